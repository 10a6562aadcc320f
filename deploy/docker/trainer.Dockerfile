# syntax=docker/dockerfile:1
# The trainer side: TRL, transformers, torch, peft and Ray at the versions the embedded stack pins in
# deploy/requirements.txt (the Temporal CLI and gguf stay out). One image serves the Kubernetes
# backend's Jobs (trainer.image) and the nodes of a Ray cluster (trainer.python: python).
#   docker build -f deploy/docker/trainer.Dockerfile -t evolve-trainer .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
FROM ${PYTHON_IMAGE}
COPY deploy/requirements.txt /tmp/requirements.txt
# torch's Linux wheels on PyPI bring their CUDA libraries (nvidia-* packages): no CUDA base image needed.
RUN grep -E '^(torch|transformers|trl|peft|ray)(\[|==)' /tmp/requirements.txt > /tmp/trainer.txt \
  && pip install --no-cache-dir --disable-pip-version-check -r /tmp/trainer.txt \
  && rm /tmp/requirements.txt /tmp/trainer.txt \
  && useradd --uid 1000 --create-home trainer
# uid 1000 like the worker image's `node`: the job directories the worker makes on the shared
# artifacts volume are the trainer's to write.
USER 1000:1000
ENV HF_HOME=/tmp/hf \
    PYTHONUNBUFFERED=1
CMD ["python", "-c", "import trl, transformers, torch, peft; print(trl.__version__)"]
