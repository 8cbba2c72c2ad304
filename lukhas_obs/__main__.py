from lukhas_obs.cli import main

main(prog_name="lukhas-obs")
