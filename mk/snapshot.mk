# Snapshot test driver (tests/tools/snapshot_drive.c): saves a running VM from a test, since
# kvmm itself has no save trigger outside its control socket. Used by tests/guest/run.sh
# (case snapshot, found next to kvmm as tests/snapshot-drive) and bench/snapshot.
SNAPSHOT_DRIVE := $(BUILD)/tests/snapshot-drive

$(SNAPSHOT_DRIVE): $(BUILD)/tests/tools/snapshot_drive.o $(LIB)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

all: $(SNAPSHOT_DRIVE)
