"""What tests share besides fixtures: paths, the moto account, sample events, the running local stack, the
emulator's building blocks, lists read from template.yaml and the ASL, and polling. Fixtures stay in conftest.py
files; test modules import from here, never from a conftest."""
