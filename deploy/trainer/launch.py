"""`accelerate launch` for evolve's trainer (trainer.launcher kind accelerate), with the same flags.

One difference: when a rank dies by a signal (OOM killer, kill -9), torchrun stops the others and exits 1,
as for a Python error; this exits 128 + the signal instead, as a single killed trainer would, so every
backend treats it alike (the local backend and Kubernetes relaunch it, and it resumes from its checkpoint).
"""

import sys

from accelerate.commands.launch import launch_command, launch_command_parser
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

if __name__ == "__main__":
    try:
        launch_command(launch_command_parser().parse_args())
    except ChildFailedError as failed:
        rank, first = failed.get_first_failure()  # the root cause: the others were stopped after it
        if first.exitcode < 0:
            print(f"evolve: rank {rank} killed by signal {-first.exitcode}", file=sys.stderr, flush=True)
            sys.exit(128 - first.exitcode)
        raise
