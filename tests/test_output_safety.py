"""`generate` never destroys what it did not write, changes both destinations all or nothing,
writes files the services can read, mounts the folder it wrote, and names the spec the same way
from any working folder. Every case runs the CLI as a user would, in temporary folders."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SPEC, run_cli, tree_snapshot

MARKER = ".lukhas-obs-generated"
COMPOSE = "docker-compose.observability.yml"


def generate(*args: str, cwd: Path | str = ROOT):
    return run_cli("generate", *args, cwd=cwd)


def one_line_error(r) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# 6. a folder of the user's is never replaced without --force


def test_out_holding_the_users_spec_is_refused(tmp_path):
    """`generate --out specs` used to delete specs/lukhas.yaml and exit 0."""
    (tmp_path / "specs").mkdir()
    shutil.copy(SPEC, tmp_path / "specs" / "lukhas.yaml")
    before = tree_snapshot(tmp_path)
    r = generate("--spec", "specs/lukhas.yaml", "--out", "specs", cwd=tmp_path)
    assert one_line_error(r) == (
        "lukhas-obs: refusing to replace specs/: it is not empty and generate did not write it (it holds"
        f" specs/lukhas.yaml and no {MARKER}); --out is replaced as a whole, so choose another folder, or pass"
        " --force to delete what it holds; nothing was written (specs/ and deployment/ are unchanged).")
    assert tree_snapshot(tmp_path) == before
    assert names(tmp_path) == ["specs"]  # no deployment/, no temporary folder


def test_out_holding_a_foreign_file_is_refused_then_replaced_with_force(tmp_path):
    out, dep = tmp_path / "mine", tmp_path / "dep"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "todo.txt").write_text("keep me\n")
    before = tree_snapshot(out)
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    assert one_line_error(r) == (
        f"lukhas-obs: refusing to replace {out}/: it is not empty and generate did not write it (it holds"
        f" {out}/notes/todo.txt and no {MARKER}); --out is replaced as a whole, so choose another folder, or pass"
        f" --force to delete what it holds; nothing was written ({out}/ and {dep}/ are unchanged).")
    assert tree_snapshot(out) == before and not dep.exists()
    assert names(tmp_path) == ["mine"]

    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep), "--check")
    assert r.returncode == 1, r.stderr  # --check is unaffected: it reads, names, keeps
    assert f"  {out}/notes/todo.txt" in r.stderr.splitlines(), r.stderr
    assert tree_snapshot(out) == before

    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep), "--force")
    assert r.returncode == 0, r.stderr
    assert not (out / "notes").exists() and (out / MARKER).is_file()
    assert (out / "prometheus" / "prometheus.yml").is_file() and (dep / COMPOSE).is_file()


def test_force_is_documented_and_generates_own_folders_are_replaced_without_it(tmp_path):
    r = run_cli("generate", "--help")
    assert r.returncode == 0 and "--force" in r.stdout and MARKER in r.stdout
    out, dep = tmp_path / "generated", tmp_path / "deployment"
    out.mkdir()  # an existing empty folder is fine
    assert generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep)).returncode == 0
    assert (out / MARKER).is_file()
    (out / "alertmanager" / "alertmanager.yml").write_text("hand edit\n")
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    assert r.returncode == 0, r.stderr  # generate's own folder: replaced, the hand edit undone as documented
    assert "hand edit" not in (out / "alertmanager" / "alertmanager.yml").read_text()
    # a tree written before the marker existed (every file bears the header) is generate's too
    (out / MARKER).unlink()
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    assert r.returncode == 0, r.stderr
    assert (out / MARKER).is_file()


def test_the_committed_output_carries_the_marker():
    assert (ROOT / "generated" / MARKER).is_file()


def test_deployment_inside_out_is_refused(tmp_path):
    out = tmp_path / "generated"
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(out / "deployment"))
    assert one_line_error(r) == (
        f"lukhas-obs: --deployment-out {out}/deployment is inside --out {out}, which generate replaces as a whole;"
        f" nothing was written ({out}/ and {out}/deployment/ are unchanged).")
    assert not out.exists()


# 7. both destinations change together or not at all; a write error is one line, exit 2


@pytest.fixture
def generated_pair(tmp_path):
    out, dep = tmp_path / "generated", tmp_path / "deployment"
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    assert r.returncode == 0, r.stderr
    (dep / "README.md").write_text("ours\n")
    am = out / "alertmanager" / "alertmanager.yml"
    am.write_text(am.read_text() + "# a hand edit that a failed run must not lose\n")
    return out, dep


def test_an_unwritable_deployment_out_leaves_generated_untouched(tmp_path, generated_pair):
    """A --deployment-out under a regular file fails for root too; generated/ used to be
    replaced already (the hand edit lost) before a traceback."""
    out, dep = generated_pair
    (tmp_path / "somefile").write_text("a file, not a folder\n")
    before = tree_snapshot(tmp_path)
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(tmp_path / "somefile" / "deploy"))
    deploy = tmp_path / "somefile" / "deploy"
    assert one_line_error(r) == (f"lukhas-obs: cannot write {deploy}: Not a directory; nothing was written"
                                 f" ({out}/ and {deploy}/ are unchanged).")
    assert "a hand edit" in (out / "alertmanager" / "alertmanager.yml").read_text()
    assert tree_snapshot(tmp_path) == before
    assert names(tmp_path) == ["deployment", "generated", "somefile"]  # no temporary sibling left


def test_a_deployment_file_that_cannot_be_replaced_leaves_both_untouched(tmp_path, generated_pair):
    out, dep = generated_pair
    (dep / COMPOSE).unlink()
    (dep / COMPOSE).mkdir()  # the compose file's path is a folder
    before = tree_snapshot(tmp_path)
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    assert one_line_error(r) == (f"lukhas-obs: cannot write {dep / COMPOSE}: Is a directory; nothing was written"
                                 f" ({out}/ and {dep}/ are unchanged).")
    assert tree_snapshot(tmp_path) == before and (dep / COMPOSE).is_dir()
    assert names(tmp_path) == ["deployment", "generated"] and names(dep) == sorted([COMPOSE, "README.md"])


def test_an_unwritable_out_leaves_the_deployment_untouched(tmp_path, generated_pair):
    out, dep = generated_pair
    (tmp_path / "somefile").write_text("x\n")
    before = tree_snapshot(tmp_path)
    r = generate("--spec", str(SPEC), "--out", str(tmp_path / "somefile" / "gen"), "--deployment-out", str(dep))
    assert one_line_error(r) == (f"lukhas-obs: cannot write {tmp_path / 'somefile'}: Not a directory; nothing was"
                                 f" written ({tmp_path / 'somefile' / 'gen'}/ and {dep}/ are unchanged).")
    assert tree_snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the tests above cover root")
def test_a_read_only_deployment_folder_leaves_generated_untouched(tmp_path, generated_pair):
    out, dep = generated_pair
    before = tree_snapshot(tmp_path)
    dep.chmod(0o555)
    try:
        r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    finally:
        dep.chmod(0o755)
    assert one_line_error(r).startswith(f"lukhas-obs: cannot write {dep}"), r.stderr
    assert one_line_error(r).endswith(f": Permission denied; nothing was written ({out}/ and {dep}/ are unchanged).")
    assert tree_snapshot(tmp_path) == before


def test_a_failure_while_swapping_undoes_the_swap(tmp_path, generated_pair, monkeypatch):
    """Disk full or a vanished folder between staging and the last rename: what was swapped in is
    swapped back out, so both destinations are byte-identical and nothing temporary is left."""
    from lukhas_obs.generate import writer

    out, dep = generated_pair
    before = tree_snapshot(tmp_path)
    real = os.replace

    def failing(src, dst, *a, **k):
        if Path(dst).name == COMPOSE:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(writer.os, "replace", failing)
    with pytest.raises(OSError):
        writer.write_outputs({"a.yml": "new\n"}, out, {COMPOSE: "new\n"}, dep)
    monkeypatch.undo()
    assert tree_snapshot(tmp_path) == before
    assert names(tmp_path) == ["deployment", "generated"] and names(dep) == sorted([COMPOSE, "README.md"])


# 8. the services' users can read what generate writes, whatever the umask


def test_output_is_world_readable_whatever_the_umask(tmp_path):
    out, dep = tmp_path / "new" / "generated", tmp_path / "new" / "deployment"
    old = os.umask(0o077)
    try:
        r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    for folder in (out, dep):
        for p in [folder, *folder.rglob("*")]:
            mode = stat.S_IMODE(p.stat().st_mode)
            want = 0o755 if p.is_dir() else 0o644
            assert mode == want, f"{p} is {mode:o}, not {want:o}"
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o755


# 10. the compose file mounts the folder generate wrote; headers do not depend on the working folder


def bind_sources(compose: Path) -> list[str]:
    doc = yaml.safe_load(compose.read_text())
    secrets = "./secrets/"
    out = []
    for svc in doc["services"].values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith((".", "/")) and not (src + "/").startswith(secrets) and src != "/var/run/docker.sock":
                out.append(src)
    return out


@pytest.mark.parametrize("out_rel,dep_rel", [("X/gen", "X/dep"), ("X/a/b/gen", "X/dep"), ("X/dep/gen", "X/dep"),
                                             ("gen", "X/y/z/dep")])
def test_compose_mounts_the_folder_generate_wrote(tmp_path, out_rel, dep_rel):
    out, dep = tmp_path / out_rel, tmp_path / dep_rel
    r = generate("--spec", str(SPEC), "--out", str(out), "--deployment-out", str(dep))
    assert r.returncode == 0, r.stderr
    sources = bind_sources(dep / COMPOSE)
    assert sorted((dep / src).resolve().relative_to(out.resolve()).as_posix() for src in sources) == [
        "alertmanager/alertmanager.yml", "blackbox/blackbox.yml", "grafana/dashboards", "grafana/provisioning",
        "loki/loki.yml", "loki/rules", "prometheus", "promtail/promtail.yml"], sources
    for src in sources:
        assert not src.startswith("/"), f"{src}: absolute, so the stack breaks when the checkout moves"
        assert (dep / src).exists(), f"{src} does not exist relative to {dep}"
        assert (dep / src).resolve().is_relative_to(out.resolve()), src


def make_repo(root: Path, with_git: bool) -> Path:
    (root / "specs").mkdir(parents=True)
    shutil.copy(SPEC, root / "specs" / "lukhas.yaml")
    if with_git:
        (root / ".git").mkdir()
    return root


@pytest.mark.parametrize("with_git", [True, False], ids=["in-a-repository", "no-repository"])
def test_headers_do_not_depend_on_the_working_folder(tmp_path, with_git):
    repo = make_repo(tmp_path / "repo", with_git)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = generate("--spec", "specs/lukhas.yaml", cwd=repo)
    assert r.returncode == 0, r.stderr
    first = {**tree_snapshot(repo / "generated"), **tree_snapshot(repo / "deployment")}
    assert first["prometheus/prometheus.yml"].startswith(b"# Generated by lukhas-obs from specs/lukhas.yaml. ")
    r = generate("--spec", str(repo / "specs" / "lukhas.yaml"), "--out", str(repo / "generated"),
                 "--deployment-out", str(repo / "deployment"), cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert {**tree_snapshot(repo / "generated"), **tree_snapshot(repo / "deployment")} == first
    r = generate("--spec", str(repo / "specs" / "lukhas.yaml"), "--out", str(repo / "generated"),
                 "--deployment-out", str(repo / "deployment"), "--check", cwd=elsewhere)
    assert r.returncode == 0, r.stderr


def test_the_committed_output_is_up_to_date_from_another_folder(tmp_path):
    r = generate("--spec", str(SPEC), "--out", str(ROOT / "generated"), "--deployment-out", str(ROOT / "deployment"),
                 "--check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_the_compose_stack_goes_beside_out_not_into_the_working_folder(tmp_path):
    """`generate --out /elsewhere` without --deployment-out wrote the checkout's deployment/."""
    work = tmp_path / "checkout"
    (work / "deployment").mkdir(parents=True)
    (work / "deployment" / COMPOSE).write_text("mine\n")
    r = run_cli("generate", "--spec", str(SPEC), "--out", str(tmp_path / "elsewhere" / "gen"), cwd=work)
    assert r.returncode == 0, r.stderr
    assert (work / "deployment" / COMPOSE).read_text() == "mine\n"
    assert (tmp_path / "elsewhere" / "deployment" / COMPOSE).exists()
    gen, dep = tmp_path / "elsewhere" / "gen", tmp_path / "elsewhere" / "deployment"
    files = len(tree_snapshot(gen)) - 1   # the marker is not counted
    assert r.stdout.splitlines() == [f"wrote {files} files to {gen}/ and 1 to {dep}/ from {SPEC}"]
