"""On PYTHONPATH of the sharded launcher tests' trainer (test/integration/trainer-sharded.test.ts), never in a job.

In a rank (LOCAL_RANK set), once accelerate has set up its state:
1. accelerate (1.16) runs an FSDP config on the CPU as plain data parallel: with `cpu=True` its state is
   MULTI_CPU, and only the GPU types become FSDP. torch's FSDP2 itself runs on gloo, so in a rank of an FSDP
   launch (ACCELERATE_USE_FSDP) this makes the state FSDP with the config's plugin, and the trainer shards,
   gathers and checkpoints as on GPUs. (DeepSpeed needs no help: its CPU accelerator takes over.)
2. It prints the distributed type, for the test to check what ran.
3. With EVOLVE_TEST_HOLD_FIRST_SAVE set, the rank blocks after writing checkpoint-1 until it is killed: the
   tiny model would otherwise finish before the test could kill a rank mid-run.
"""

import os

if "LOCAL_RANK" in os.environ:
    import threading

    import accelerate.state as state

    original_init = state.AcceleratorState.__init__
    done = []

    def hold_after_first_save():
        from transformers import Trainer

        save = Trainer._save_checkpoint

        def saved_then_hold(self, *args, **kwargs):
            save(self, *args, **kwargs)
            if self.state.global_step == 1:
                threading.Event().wait()

        Trainer._save_checkpoint = saved_then_hold

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        plugin = kwargs.get("fsdp_plugin")
        if os.environ.get("ACCELERATE_USE_FSDP") == "true" and plugin is not None:
            if self.distributed_type == state.DistributedType.MULTI_CPU:
                self.distributed_type = state.DistributedType.FSDP
                self.fsdp_plugin = plugin
                state.PartialState._shared_state["distributed_type"] = state.DistributedType.FSDP
        if done:
            return
        done.append(True)
        print(f"evolve-test: rank {os.environ['LOCAL_RANK']} runs {self.distributed_type.value}", flush=True)
        if os.environ.get("EVOLVE_TEST_HOLD_FIRST_SAVE"):
            hold_after_first_save()

    state.AcceleratorState.__init__ = init
