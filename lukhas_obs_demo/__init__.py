"""What the demo and the tests run that is not the product: the synthetic LUKHAS workload
(`python -m lukhas_obs_demo.workload`). It lives in the checkout beside lukhas_obs/ and is not part
of the installed package (pyproject.toml lists lukhas_obs only), so the product does not carry it,
nor its prometheus-client dependency. `make demo` and the tests run from the checkout, where it is
importable."""
