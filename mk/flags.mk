# Compiler flags: warnings and hardening (shared/STYLE.md §10).
CC ?= gcc
WERROR ?= 0
OPT ?= -O2 -g

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
	-Wundef -Wwrite-strings -Wimplicit-fallthrough -Wcast-align -Wno-unused-parameter
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

HARDEN_CFLAGS := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now

CPPFLAGS += -Isrc -D_GNU_SOURCE
CFLAGS += -std=gnu11 $(OPT) $(WARNINGS) $(HARDEN_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS += $(HARDEN_LDFLAGS)
