"""`make bench`: the worker's throughput, latency, memory and recovery beside the raw Kafka
ceiling and a plain Faust agent, on one local broker, in one bounded run (issue 4, item 1).

`python -m streamproc.bench --help` lists the options; `runner.run_bench` is the whole run.
"""
