"""What every part of the local stack builds on: its settings (`config`, the one reader of the SAGA_LOCAL_*
environment variables), the registry of changes made to moto (`patches`, each a `patching.Patch`), the hook that
sees every AWS call the stack serves (`aws_calls`, used by the fault injector and the cost meter), and the moto
server's dispatch cache (`routing`)."""
