from harness.cli import main

main(prog_name="camp-harness")  # `python -m harness` (the local executor, `camp calibrate`) is camp-harness
