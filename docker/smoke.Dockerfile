# The smoke Job's image (smokeImage): this project's wheel and its pinned, hash-checked dependencies,
# installed when the image is built, so the Job runs no code fetched at run time next to the API key.
#
#   uv build --wheel
#   uv export --frozen --no-dev --no-emit-project --no-emit-workspace -o dist/smoke-requirements.txt
#   docker build -f docker/smoke.Dockerfile -t REGISTRY/gptoss-smoke:0.1.0 .
#   docker push REGISTRY/gptoss-smoke:0.1.0      # then: smokeJob true, smokeImage REGISTRY/gptoss-smoke:0.1.0
#
# The base image is pinned by tag; pin it by digest too if your registry policy asks for it.
FROM python:3.11.13-slim-bookworm
COPY dist/smoke-requirements.txt dist/gptoss_vllm-0.1.0-py3-none-any.whl /tmp/gptoss/
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes -r /tmp/gptoss/smoke-requirements.txt \
 && pip install --no-cache-dir --disable-pip-version-check --no-deps /tmp/gptoss/gptoss_vllm-0.1.0-py3-none-any.whl \
 && rm -rf /tmp/gptoss
# The Kubernetes smoke Job runs as 10001 with a read-only root filesystem and HOME=/tmp (an emptyDir).
USER 10001
ENTRYPOINT ["gptoss", "smoke"]
