# expect: 6 requires
CASE = {
    "description": "x",
    "build": False,
    "requires": {
        ("kfuncs",): ["bpf_task_acquire"],
    },
}


def run(t):
    pass
