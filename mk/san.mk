# make SAN=address,undefined  |  make SAN=thread
SAN ?=
ifneq ($(SAN),)
CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
BUILD := build-san
endif
