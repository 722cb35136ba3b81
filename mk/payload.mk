# Guest payloads (freestanding): see tests/guest/payload/README.md.
payloads:
.PHONY: payloads
