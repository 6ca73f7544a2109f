"""t.jit_image on this host's JIT: the bytes, their length against bpf_prog_info."""

CASE = {"description": "t.jit_image reads a loaded program's JITed image",
        "requires": {"jit": True}}


def run(t):
    obj = t.load()
    obj.bss.x = 41
    t.expect_eq(obj.test_run("jitted", data=bytes(64))["retval"], 0, "retval")
    t.expect_eq(obj.bss.out, 42, "out")
    image = t.jit_image(obj, "jitted")
    t.detail("image_len", len(image))
    t.expect_eq(len(image), obj.prog_info("jitted")["jited_prog_len"], "length against prog_info")
    try:
        t.jit_insns(obj, "jitted")
        t.detail("decoded", True)
    except ValueError as e:  # an arch the decoder does not cover (x86_64)
        t.detail("decoded", str(e))
