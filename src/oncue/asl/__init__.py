"""Amazon States Language: parse, validate and interpret. A pure core: no I/O, no clock."""
