"""Direct sampling from gpt-oss with the vLLM library and harmony: `python -m gptoss_sampler`.

JSONL of conversations in (conversations.py), prompts rendered and completions parsed by `openai_harmony`
(harmony_io.py), one `vllm.LLM` for the batch (engine.py, batch.py), JSONL of results out (results.py).

This package imports only the standard library, `openai_harmony` and `vllm` (the last two lazily), and
only relative to itself: it is shipped on its own into the vLLM venv of a deployed host and into the
sample Job's pod (targets/sample.py lists its files), where the rest of this project is not installed.
The engine arguments come from the serving plan; `gptoss sample` computes them (targets/sample.py).
"""
