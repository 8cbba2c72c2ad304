from lukhas_obs.cli import main

main()
