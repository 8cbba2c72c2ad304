"""Wall time and peak memory of `generate` on the LUKHAS spec and on synthetic specs of 100 and
1,000 services. The baseline, run in the same process, is PyYAML's own safe_load + dump of the
same spec: the floor any YAML-to-YAML tool pays.

Besides the in-process medians (whose repeats find warm caches): the CPU seconds of the same
runs (the pool's workers included), the first load + render in a fresh process (cold caches,
imports not counted), and for the LUKHAS spec the whole `lukhas-obs generate` command, from
interpreter start to files written."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import yaml  # noqa: E402
from common import median_seconds, median_times, synthetic_spec, synthetic_team_folder  # noqa: E402

from lukhas_obs.generate import render  # noqa: E402
from lukhas_obs.spec.loader import load_spec_text  # noqa: E402

CHILD = r"""
import resource, sys, tempfile, time
from lukhas_obs.spec import load_spec
from lukhas_obs.generate import render
from lukhas_obs.generate.writer import write_tree
t = time.perf_counter()
files = render(load_spec(sys.argv[1]))
first = time.perf_counter() - t
write_tree(files, tempfile.mkdtemp() + "/out")
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(rss, len(files), sum(len(t) for t in files.values()), first)
"""


def measure(label: str, text: str, repeat: int) -> dict:
    def ours():
        render(load_spec_text(text, "bench.yaml"))

    def baseline():
        yaml.safe_dump(yaml.safe_load(text))

    t_ours, cpu_ours = median_times(ours, repeat)
    t_base = median_seconds(baseline, repeat)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(text)
    out = subprocess.run([sys.executable, "-c", CHILD, fh.name], capture_output=True, text=True, check=True)
    rss_kb, nfiles, nbytes, first = out.stdout.split()
    return {"spec": label, "median_s": round(t_ours, 4), "median_cpu_s": round(cpu_ours, 4),
            "baseline_yaml_roundtrip_s": round(t_base, 4), "ratio_to_baseline": round(t_ours / t_base, 1),
            "first_run_fresh_process_s": round(float(first), 4),
            "peak_rss_mib_largest_process": round(int(rss_kb) / 1024, 1), "files": int(nfiles), "bytes": int(nbytes)}


def measure_cli(spec: str, repeat: int) -> float:
    """Median wall seconds of the whole `lukhas-obs generate` command (a new process each time)."""
    def once():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "lukhas_obs", "generate", "--spec", spec, "--out", f"{tmp}/out",
                            "--deployment-out", f"{tmp}/deployment"], capture_output=True, check=True)
    return median_seconds(once, repeat)


def main() -> list[dict]:
    rows = [measure("specs/lukhas.yaml (13 services, 8 SLOs)", Path("specs/lukhas.yaml").read_text(), 7)
            | {"cli_generate_s": round(measure_cli("specs/lukhas.yaml", 5), 4)},
            measure("synthetic 100 services (200 SLOs)", synthetic_spec(100), 5),
            measure("synthetic 1,000 services (2,000 SLOs)", synthetic_spec(1000), 3)]
    rows.append(measure_folder(50, 20))
    print(json.dumps(rows, indent=2))
    return rows


def measure_folder(teams: int, per_team: int) -> dict:
    from lukhas_obs.spec import load_spec

    folder = Path(tempfile.mkdtemp(prefix="bench-teams-")) / "specs"
    synthetic_team_folder(folder, teams, per_team)
    t = median_seconds(lambda: render(load_spec(folder)), 3)
    load_only = median_seconds(lambda: load_spec(folder), 3)
    return {"spec": f"folder of {teams} team specs + shared ({teams * per_team} services)",
            "median_s": round(t, 4), "load_and_merge_median_s": round(load_only, 4)}


if __name__ == "__main__":
    main()
