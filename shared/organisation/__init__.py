"""The city's organisation: its divisions, counters, programs and agencies (reference.py), and the division
scope on plain values (scope.py). Below the kernel: the application base and every layer above read it."""
