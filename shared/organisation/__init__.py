"""The municipality's organisation as data (issue 18): the municipality file's model and loading (municipality.py,
the shipped files in municipalities/), its divisions, counters, programs and agencies over time (reference.py), and
the division scope on plain values, successors included (scope.py). Below the kernel: the application base and every
layer above read it."""
