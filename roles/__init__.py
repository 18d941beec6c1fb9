"""Timestack roles: one package per role, each a thin @deploy over facts, operations and
pure logic. roles.spec holds the typed view of host data they all read."""
