"""The one YAML writer for every generated file: safe dumper, insertion order kept (generators
build dicts in the order a reader expects), multi-line strings as literal blocks."""

from __future__ import annotations

import re

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # never write &anchors/*aliases
        return True


_CLOCK = re.compile(r"^[0-9]+(:[0-9]+)+$")


def _str(dumper: yaml.SafeDumper, value: str):
    if "\n" in value:
        style = "|"
    elif _CLOCK.match(value):
        style = "'"  # 09:00 is a base-60 integer to YAML 1.1 readers; quote every clock time
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data, header: str | None = None) -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1 << 16, indent=2)
    return (header + "\n" if header else "") + body
