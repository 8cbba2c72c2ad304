"""Bring your SLOs: OpenSLO v1 documents and Sloth specs as a team file of the spec.

common.py reads files as people publish them and writes the team file (checked as `validate`
checks it); openslo.py and sloth.py map each format's SLOs, with every assumption as a note and
every reason an SLO cannot be imported as a blocker."""
