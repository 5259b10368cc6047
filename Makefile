# geoplantnet - top-level Makefile.
#
#   make            build build/gpn (library build/libgpn.a, tests, benches)
#   make demo       install what is missing, build, run the demo pipeline, serve :8080
#   make test       install what is missing, build, run every test ("N passed, N failed")
#   make test SANITIZE=address,undefined   same under ASan/UBSan (build-san/)
#   make bench      build and run the benchmarks under bench/
#   make fuzz       build the libFuzzer targets (clang) and replay their corpora
#
# Sources are found by wildcard: every src/**/*.c goes into libgpn.a, every
# apps/*.c into the gpn program, every tests/unit/test_*.c becomes its own
# test program and every bench/bench_*.c its own benchmark. WERROR=1 (set by
# CI=true) turns warnings into errors.

CC ?= cc
BUILD ?= build
SANITIZE ?=
ifneq ($(SANITIZE),)
BUILD := build-san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
ifeq ($(CI),true)
WERROR ?= 1
endif

PKGS := gdal sqlite3 jansson libpng libzstd libmicrohttpd openblas proj zlib libjpeg
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
OPT ?= -O2
CFLAGS_BASE = -std=c11 -g $(OPT) $(WARN) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
  -Iinclude $(PKG_CFLAGS) -fopenmp -pthread $(SAN_FLAGS)
# Numeric kernels get -O3 and the host's vector units; no fast-math (the
# reference tests compare them with the naive twins).
NN_CFLAGS = -O3 -march=native
LDLIBS_ALL = $(PKG_LIBS) -lroaring -lm -lpthread -fopenmp $(SAN_FLAGS)

LIB_SRC := $(sort $(shell find src -name '*.c' 2>/dev/null))
APP_SRC := $(sort $(wildcard apps/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
APP_OBJ := $(APP_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIB := $(BUILD)/libgpn.a
GPN := $(BUILD)/gpn

.PHONY: all build setup demo test check bench fuzz clean web fixtures
all: build
build: $(GPN) $(TEST_BIN) $(BENCH_BIN)

$(BUILD)/obj/src/nn/%.o: src/nn/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(NN_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(GPN): $(APP_OBJ) $(LIB)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $(APP_OBJ) $(LIB) $(LDLIBS_ALL) $(LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -Itests/unit -MMD -MP -o $@ $< $(LIB) $(LDLIBS_ALL) $(LDFLAGS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(NN_CFLAGS) $(CFLAGS) -Ibench -MMD -MP -o $@ $< $(LIB) $(LDLIBS_ALL) $(LDFLAGS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

setup:
	@scripts/setup

# The two commands of the README. Both install what is missing first.
test: setup
	@$(MAKE) --no-print-directory build
	@scripts/build-web
	@$(MAKE) --no-print-directory check

check:
	@bash tests/run.sh $(BUILD)

demo: setup
	@$(MAKE) --no-print-directory build
	@scripts/build-web
	@bash scripts/demo $(BUILD)

web:
	@scripts/build-web

bench: build
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

fuzz:
	@bash tests/fuzz/run.sh

# Regenerates the PyTorch reference fixtures (Debian python3-torch).
fixtures:
	/usr/bin/python3 tests/ref/gen_fixtures.py

clean:
	rm -rf build build-san
