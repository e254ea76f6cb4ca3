"""The recovery sweep: finds orders a saga execution left unfinished and runs their saga again."""
