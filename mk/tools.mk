# Test tools (tests/tools/*.c): small drivers for the interop scripts. Owned by the block layer.
# The lead includes this file from the Makefile.
TOOLS := $(BUILD)/tools/qcow2-io $(BUILD)/tools/qcow2-crash

$(BUILD)/tools/qcow2-io: $(BUILD)/tests/tools/qcow2_io.o $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Writer/checker for tests/img/crash-kill9.sh (kill -9 crash consistency).
$(BUILD)/tools/qcow2-crash: $(BUILD)/tests/tools/qcow2_crash.o $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

tools: $(TOOLS)

check-img: tools

.PHONY: tools
