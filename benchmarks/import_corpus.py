"""Build the corpus of published OpenSLO and Sloth files that bench_import.py reads, from local
git clones of the public repositories below, at the commits below. The files are not part of this
repository (their licences are their own: Apache-2.0 for every repository listed); this script
only copies them out of clones you have.

    python benchmarks/import_corpus.py --clones DIR --out CORPUS

DIR holds one clone per repository, as `DIR/<owner>+<name>` (a work tree or a bare repository;
`DIR/<owner>+<name>/repo` is read as well). CORPUS receives `<owner>+<name>/<path>` for every
file listed, and the yaml code blocks of OpenSLO's README as `README.block-NN.yaml`. Files under a
`sloth/` folder of CORPUS... are not special: bench_import.py tells a Sloth spec by its content."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

# (repository, commit, [path prefixes or exact paths], licence)
MANIFEST = [
    ("OpenSLO/OpenSLO", "aa5cb78d7044bbd8ab4915ea0af0d988f4db8a59", ["examples/", "README.md"], "Apache-2.0"),
    # the schema-test files, deleted upstream in 525dc600 (2024-09-02): taken from its parent
    ("OpenSLO/OpenSLO", "525dc60^", ["schema-test/spec-files/"], "Apache-2.0"),
    ("OpenSLO/go-sdk", "ae145da12c36289a0c6566474f1ce8a9a6aeaf1e", ["pkg/openslo/", "pkg/openslosdk/test_data/"],
     "Apache-2.0"),
    ("OpenSLO/oslo", "2f07e9230a00b0bd4fadd3abcc6125b72c88cba0", ["internal/files/testdata/", "test/inputs/"],
     "Apache-2.0"),
    ("nobl9/nobl9-openslo", "3278c616eeadf55bf60b632b9941226d7511c1e9", ["pkg/openslotonobl9/test_data/inputs/"],
     "Apache-2.0"),
    ("OpenSLO/slogen", "4c0173205fa0d17fc08ca580b873c0325ad64b1d", ["samples/", "libs/templates/openslo/"],
     "Apache-2.0"),
    ("slok/sloth", "0e395d81513ff701f5d27b7aa47d794cb764fd5e",
     ["examples/", "test/integration/prometheus/testdata/"], "Apache-2.0"),
]
SUFFIXES = (".yaml", ".yml", ".json")
SKIP = re.compile(r"(^|/)_gen/")   # Sloth's generated Prometheus rules, not specs


def git_dir(clones: Path, repo: str) -> Path:
    base = clones / repo.replace("/", "+")
    return base / "repo" if (base / "repo").exists() else base


def readme_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", text, flags=re.S | re.M)


def build(clones: Path, out: Path) -> int:
    count = 0
    for repo, commit, prefixes, _licence in MANIFEST:
        gd = git_dir(clones, repo)
        names = subprocess.run(["git", "-C", str(gd), "ls-tree", "-r", "--name-only", commit], check=True,
                               capture_output=True, text=True).stdout.splitlines()
        for name in names:
            if not any(name == p or name.startswith(p) for p in prefixes) or SKIP.search(name):
                continue
            body = subprocess.run(["git", "-C", str(gd), "show", f"{commit}:{name}"], check=True,
                                  capture_output=True).stdout
            target = out / repo.replace("/", "+") / name
            if name.endswith("README.md"):
                for i, block in enumerate(readme_blocks(body.decode())):
                    dest = target.with_name(f"README.block-{i:02d}.yaml")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(block)
                    count += 1
                continue
            if not name.endswith(SUFFIXES):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clones", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    n = build(args.clones, args.out)
    print(f"wrote {n} files to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
