"""Import coverage on published files: the OpenSLO and Sloth importers over a corpus folder.

    python benchmarks/bench_import.py [CORPUS]      (or LUKHAS_IMPORT_CORPUS=CORPUS)

Build CORPUS with benchmarks/import_corpus.py (the repositories and commits are listed there).
Each folder of the corpus is imported as a user would import it (`lukhas-obs import openslo
FOLDER/*`): references resolve within the folder; a file is a Sloth spec when it says so
(`version: prometheus/v1` or `apiVersion: sloth.slok.dev/v1`). Printed: files, SLO documents,
imported, imported and validated (the team file `validate` accepts beside a shared file),
generated with passing promtool tests (when promtool is installed), refused by reason, and
crashes (an exception out of an importer: must be 0). Skipped, with a message, without a corpus."""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lukhas_obs.importers.common import BLOCKERS, read_files, team_file  # noqa: E402
from lukhas_obs.importers.openslo import import_openslo  # noqa: E402
from lukhas_obs.importers.sloth import import_sloth  # noqa: E402

SLOTH = re.compile(r"^(version:\s*[\"']?prometheus/|apiVersion:\s*[\"']?sloth\.slok\.dev/)", re.M)


def groups(corpus: Path) -> dict[tuple[Path, str], list[Path]]:
    out: dict[tuple[Path, str], list[Path]] = collections.defaultdict(list)
    for f in sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json")):
        try:
            kind = "sloth" if SLOTH.search(f.read_text(encoding="utf-8", errors="replace")) else "openslo"
        except OSError:
            kind = "openslo"
        # OpenSLO files of a folder reference each other; a Sloth file stands alone (Sloth's
        # examples repeat one SLO in many files, which one import would rightly refuse twice)
        out[(f.parent if kind == "openslo" else f, kind)].append(f)
    return out


def promtool_passes(team_text: str, shared: str, run: bool) -> tuple[int, int]:
    """(SLOs generated, SLO test files promtool passes, -1 when not run) for a team file beside
    `shared`."""
    from lukhas_obs.generate import render
    from lukhas_obs.spec.loader import load_spec_dir

    promtool = shutil.which("promtool")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "specs")
        folder.mkdir()
        (folder / "shared.yaml").write_text(shared)
        (folder / "team.yaml").write_text(team_text)
        spec = load_spec_dir(folder)
        files = render(spec)
        out = Path(tmp, "out")
        for rel, body in files.items():
            if rel.startswith("prometheus/rules/"):
                path = out / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body if isinstance(body, str) else body.decode())
        tests = sorted((out / "prometheus/rules").glob("slo-*.test.yml")) if out.exists() else []
        if promtool is None or not run:
            return len(spec.slos), -1
        passed = 0
        for t in tests:
            r = subprocess.run([promtool, "test", "rules", t.name], cwd=t.parent, capture_output=True, timeout=120)
            passed += r.returncode == 0
        return len(spec.slos), passed


SHARED = """apiVersion: lukhas-obs/v1
project: corpus
receivers: {nobody: {}}
severities:
  P1: {level: critical, receiver: nobody, page: true}
  P3: {level: medium, receiver: nobody}
services: []
"""


def main(corpus: str | None = None, promtool: bool | None = None) -> dict:
    """`promtool`: also run the generated promtool tests of every imported SLO (minutes: each
    test file replays its SLO's whole period); LUKHAS_IMPORT_PROMTOOL=1 turns it on."""
    corpus = corpus or os.environ.get("LUKHAS_IMPORT_CORPUS")
    corpus = str(Path(corpus)) if corpus else None
    if promtool is None:
        promtool = os.environ.get("LUKHAS_IMPORT_PROMTOOL") == "1"
    if not corpus or not Path(corpus).is_dir():
        print("import corpus: skipped (give a folder built by benchmarks/import_corpus.py as the argument or in "
              "LUKHAS_IMPORT_CORPUS)")
        return {"skipped": True}
    t0 = time.perf_counter()
    totals = collections.Counter()
    by_kind: collections.Counter = collections.Counter()
    only: collections.Counter = collections.Counter()
    crashes: list[str] = []
    per_repo: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (folder, kind), files in groups(Path(corpus)).items():
        repo = per_repo[folder.relative_to(corpus).parts[0]]
        repo["files"] += len(files)
        totals["files"] += len(files)
        texts = read_files(files)
        try:
            result = (import_sloth if kind == "sloth" else import_openslo)(texts)
            totals["slo_documents"] += len(result.outcomes)
            totals["imported"] += len(result.imported)
            totals["input_problems"] += len(result.problems)
            team = team_file(result, kind, base=None, port=8080, team=None, priorities={"P1", "P3"},
                             base_metrics={})
            totals["validated"] += team.slos
            repo.update({"slos": len(result.outcomes), "validated": team.slos})
            totals["unplaced"] += len(team.unplaced)
            for o in result.refused:
                kinds = sorted({b.kind for b in o.blockers})
                by_kind.update(kinds)
                if len(kinds) == 1:
                    only[kinds[0]] += 1
            if team.slos:
                generated, passed = promtool_passes(team.text, SHARED, promtool)
                totals["generated"] += generated
                totals["promtool_passed"] += max(passed, 0)
                totals["promtool_missing"] += passed < 0
        except Exception:  # noqa: BLE001 - counted: the figure that must be 0
            crashes.append(f"{folder} ({kind}): {traceback.format_exc(limit=3)}")
    totals["crashes"] = len(crashes)
    print(f"corpus {corpus}: {totals['files']} files, {totals['slo_documents']} SLOs (a v1alpha document counts one "
          f"per ratio objective), "
          f"{totals['imported']} imported, {totals['validated']} imported and validated, "
          f"{totals['generated']} generated, {totals['promtool_passed']} with passing promtool tests"
          + (" (promtool tests not run: LUKHAS_IMPORT_PROMTOOL=1 and promtool)" if totals["promtool_missing"] else "")
          + f", {totals['slo_documents'] - totals['validated']} refused, {len(crashes)} crashes, "
          f"{totals['input_problems']} input problems reported, {time.perf_counter() - t0:.1f} s")
    print(f"{'repository':24} {'files':>5} {'SLOs':>5} {'imported':>9}")
    for name, c in sorted(per_repo.items()):
        print(f"{name:24} {c['files']:5} {c['slos']:5} {c['validated']:9}")
    print(f"{'blocker':16} {'SLOs':>5} {'only reason':>12}  what")
    for kind, n in by_kind.most_common():
        print(f"{kind:16} {n:5} {only[kind]:12}  {BLOCKERS.get(kind, '')}")
    for c in crashes:
        print("CRASH", c)
    return {**totals, "per_repository": {k: dict(v) for k, v in per_repo.items()}, "blockers": dict(by_kind),
             "only_blocker": dict(only), "crash_details": crashes}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--promtool"]
    main(args[0] if args else None, "--promtool" in sys.argv[1:] or None)
