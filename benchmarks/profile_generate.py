"""Where `generate` spends its CPU on a synthetic spec: the three steps of loading and the three
parts of rendering, in one process (the per-SLO files are rendered serially here, so every part
is counted in this process). Not part of `make bench`; run by hand:

    .venv/bin/python benchmarks/profile_generate.py [SERVICES]      (default 1,000)

With `--cprofile`, the 30 functions with the most time of their own, to find what to size next."""

from __future__ import annotations

import collections
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import synthetic_spec  # noqa: E402

from lukhas_obs.generate import pipeline, slo, slotests  # noqa: E402
from lukhas_obs.spec import loader, yamlsource  # noqa: E402


def breakdown(text: str) -> dict[str, float]:
    spent: collections.Counter[str] = collections.Counter()

    def timed(label, fn):
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - start
        return wrapper

    data, lines = timed("load: parse the YAML (libyaml + line map)", yamlsource.parse_yaml)(text, "bench.yaml")
    sources = loader.Sources.single("bench.yaml", lines)
    timed("load: JSON Schema + text checks", loader.schema_problems)(data, sources)
    spec = timed("load: build the model", lambda: loader._Builder(data, sources, "bench.yaml").build())()
    patches = [(pipeline, "dump", "render: YAML writer"), (slo, "slo_rule_file", "render: SLO rule documents"),
               (slotests, "slo_test_file", "render: promtool test documents"), (pipeline, "PARALLEL_FROM", None)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    try:
        for module, name, label in patches:
            setattr(module, name, 10**9 if label is None else timed(label, getattr(module, name)))
        start = time.process_time()
        pipeline.render(spec)
        total = time.process_time() - start
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
    spent["render: the rest (dashboards, configs)"] = total - sum(v for k, v in spent.items() if k.startswith("render"))
    return dict(spent)


def main() -> None:
    text = synthetic_spec(int(next((a for a in sys.argv[1:] if a.isdigit()), "1000")))
    if "--cprofile" in sys.argv:
        profile = cProfile.Profile()
        profile.runcall(breakdown, text)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        return
    parts = breakdown(text)
    for label, seconds in parts.items():
        print(f"{label:45s} {seconds:6.3f} s")
    print(f"{'total CPU':45s} {sum(parts.values()):6.3f} s")


if __name__ == "__main__":
    main()
