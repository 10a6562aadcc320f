import type { Trainer } from '../core/config.js';
import type { TrainingBackend } from './backend.js';
import { kubernetesBackend } from './kubernetes.js';
import { localBackend } from './local.js';
import { rayBackend } from './ray.js';

/** The backend that runs a trainer's jobs: a local process, a Ray job or a Kubernetes Job. */
export function backendFor(trainer: Trainer): TrainingBackend {
  switch (trainer.backend) {
    case 'local':
      return localBackend(trainer.maxRestarts);
    case 'ray':
      return rayBackend(trainer);
    case 'kubernetes':
      return kubernetesBackend(trainer);
  }
}
