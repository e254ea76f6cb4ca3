"""The order saga on one machine: the template's resources on an embedded local AWS (moto)."""
