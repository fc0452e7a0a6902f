"""Tests of ecgimg.evaluate (a package so test module names cannot collide with other folders)."""
