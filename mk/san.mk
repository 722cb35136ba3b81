# make SAN=address,undefined  |  make SAN=thread
SAN ?=
ifneq ($(SAN),)
CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
BUILD := build-san
endif
# GCC cannot instrument atomic_thread_fence; the virtqueue needs its full fences (spec-mandated
# barriers against the guest, which TSan cannot see anyway), so only the warning is silenced.
ifeq ($(SAN),thread)
CFLAGS += -Wno-tsan
endif
