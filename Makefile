# SPDX-License-Identifier: Apache-2.0
# The one Makefile of tapio. Everything generated goes under build/; binaries in build/bin/.
#   make            build everything (host binaries, BPF objects for this arch)
#   make run        install what is missing, build, start tapiod with the default config
#   make test       install what is missing, build, run every test (root tests need root)
#   make deps       install the Debian packages the build and the tests need
#   make bpf-arm64  compile the BPF objects for arm64 as well (also part of `make check`)
#   make test-kernels  the eBPF/integration tests on Debian's 6.1 and 6.12 kernels under qemu
#                   (TCG); KERNELS="6.1" picks the series, KERNEL_ARGS=--ci the CI subset
#   make test-kernels-arm64  the arm64 BPF objects loaded and attached on Debian's arm64 kernels
#                   under qemu-system-aarch64 (also run by make test-kernels)
#   make bench-kernels the security collector's hook sets, ns per syscall, in those kernels
#   make image      the container image (build/image/: OCI layout + docker-archive), no daemon;
#                   IMAGE=name:tag names it (default tapio:dev, as deploy/kubernetes/ uses)
#   make image-check  build the image twice and compare the digests (reproducibility)
#   make V=1        show the commands;  make SANITIZE=address,undefined  sanitizer build

BUILD    ?= build
ARCH     ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
PROTOC_C ?= protoc-c

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

GEN  := $(BUILD)/gen
OBJ  := $(BUILD)/obj
BIN  := $(BUILD)/bin
BPFO := $(BUILD)/bpf

PKGS      := libbpf libuv libprotobuf-c yaml-0.1 libseccomp libcap libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lelf -lz

WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fno-strict-aliasing -D_GNU_SOURCE
CPPFLAGS += -I. -I$(GEN) -Icommon -Ibpf $(PKG_CFLAGS) -MMD -MP
# Generated sources' __FILE__ names the build directory: name it build/ whatever BUILD is, so
# two builds of the same tree give the same binaries (make image-check rebuilds elsewhere).
CFLAGS   += -ffile-prefix-map=$(BUILD)/=build/
ifeq ($(CI),true)
CFLAGS   += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

# Rebuild everything when the flags change (e.g. switching SANITIZE on and off).
FLAGS_SIG := $(shell echo '$(CC) $(CFLAGS) $(LDFLAGS)' | md5sum | cut -c1-12)
FLAGS_STAMP := $(BUILD)/.flags-$(FLAGS_SIG)
$(FLAGS_STAMP):
	$(Q)mkdir -p $(BUILD) && rm -f $(BUILD)/.flags-* && touch $@

# ---- schema ---------------------------------------------------------------------------------
PROTOS     := $(wildcard proto/tapio/v1/*.proto)
PROTO_WKT  := /usr/include/google/protobuf/timestamp.proto
PB_C       := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS)) $(GEN)/google/protobuf/timestamp.pb-c.c
PB_H       := $(PB_C:.c=.h)

$(GEN)/.proto-stamp: $(PROTOS)
	$(call msg,PROTOC,$(PROTOS))
	$(Q)mkdir -p $(GEN)
	$(Q)$(PROTOC_C) --c_out=$(GEN) -Iproto -I/usr/include $(PROTOS) $(PROTO_WKT)
	$(Q)touch $@
$(PB_C) $(PB_H): $(GEN)/.proto-stamp

# ---- BPF ------------------------------------------------------------------------------------
# vmlinux.h comes from this machine's BTF when it has one; the committed copy is the fallback.
VMLINUX_DIR := $(GEN)/vmlinux
$(VMLINUX_DIR)/vmlinux.h:
	$(Q)mkdir -p $(VMLINUX_DIR)
	$(Q)if [ -r /sys/kernel/btf/vmlinux ] && $(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp 2>/dev/null; then \
		mv $@.tmp $@; echo "  VMLINUX  from /sys/kernel/btf/vmlinux"; \
	else rm -f $@.tmp; cp bpf/vmlinux/vmlinux.h $@; echo "  VMLINUX  committed fallback bpf/vmlinux/vmlinux.h"; fi

BPF_SRCS  := $(wildcard collectors/*/*.bpf.c)
BPF_NAMES := $(notdir $(BPF_SRCS:.bpf.c=))
BPF_CFLAGS := -g -O2 -target bpf -Wall -Wno-unused-function -I$(VMLINUX_DIR) -Ibpf -Icommon -Icollectors

define bpf_rules
$(BPFO)/$(ARCH)/$(1).tmp.o: collectors/$(1)/$(1).bpf.c $(VMLINUX_DIR)/vmlinux.h $(wildcard bpf/*.h) $(wildcard collectors/$(1)/*.h) | $(FLAGS_STAMP)
	$$(call msg,BPF,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -D__TARGET_ARCH_$(ARCH) -Icollectors/$(1) -c $$< -o $$@
$(BPFO)/$(ARCH)/$(1).bpf.o: $(BPFO)/$(ARCH)/$(1).tmp.o
	$(Q)$(BPFTOOL) gen object $$@ $$<
$(GEN)/$(1).skel.h: $(BPFO)/$(ARCH)/$(1).bpf.o
	$$(call msg,SKEL,$$@)
	$(Q)$(BPFTOOL) gen skeleton $$< name $(1)_bpf > $$@.tmp && mv $$@.tmp $$@
$(BPFO)/arm64/$(1).bpf.o: collectors/$(1)/$(1).bpf.c bpf/vmlinux/arm64/vmlinux.h $(wildcard bpf/*.h) $(wildcard collectors/$(1)/*.h)
	$$(call msg,BPF64,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$(CLANG) -Ibpf/vmlinux/arm64 $(BPF_CFLAGS) -D__TARGET_ARCH_arm64 -Icollectors/$(1) -c $$< -o $$@.tmp.o
	$(Q)$(BPFTOOL) gen object $$@ $$@.tmp.o && rm -f $$@.tmp.o
endef
$(foreach n,$(BPF_NAMES),$(eval $(call bpf_rules,$(n))))
SKELS := $(patsubst %,$(GEN)/%.skel.h,$(BPF_NAMES))

# arm64 objects are compiled against an arm64 kernel's types (bpf/vmlinux/arm64/vmlinux.h: Debian's
# arm64 6.1 BTF, `scripts/test-kernels-arm64.sh --vmlinux-h`), found before the host's vmlinux.h.
.PHONY: bpf-arm64
bpf-arm64: $(patsubst %,$(BPFO)/arm64/%.bpf.o,$(BPF_NAMES))

# ---- host code ------------------------------------------------------------------------------
COLLECTORS := $(notdir $(wildcard collectors/*))
-include $(wildcard collectors/*/collector.mk)

# Collector definitions: collectors/<name>/<name>_def.c defines collector_def_<name> (registry
# entry and config keys). The generated table lists every one; tapiod, tapioctl, every worker
# and the tests link them all (through libtapio), so all agree on the whole schema.
DEF_NAMES := $(sort $(foreach c,$(COLLECTORS),$(if $(wildcard collectors/$(c)/$(c)_def.c),$(c))))
DEF_SRCS  := $(foreach c,$(DEF_NAMES),collectors/$(c)/$(c)_def.c $($(c)_DEF_SRCS))
DEF_TABLE := $(GEN)/collector_table.c
.PHONY: FORCE
$(DEF_TABLE): FORCE
	$(Q)mkdir -p $(@D)
	$(Q){ printf '// Generated by the Makefile from collectors/*/*_def.c: do not edit.\n'; \
	  printf '#include "registry.h"\n\n'; \
	  for c in $(DEF_NAMES); do printf 'extern const struct registry_entry collector_def_%s;\n' $$c; done; \
	  printf '\nconst struct registry_entry *const registry_entries[] = {\n'; \
	  for c in $(DEF_NAMES); do printf '\t&collector_def_%s,\n' $$c; done; \
	  printf '};\n\nconst size_t registry_count = %d;\n' $(words $(DEF_NAMES)); } > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; echo "  GEN      $@"; fi

COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(COMMON_SRCS)) $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(PB_C)) \
	       $(patsubst %.c,$(OBJ)/%.o,$(DEF_SRCS)) $(OBJ)/gen/collector_table.o
LIBTAPIO    := $(BUILD)/lib/libtapio.a

$(OBJ)/%.o: %.c $(GEN)/.proto-stamp | $(FLAGS_STAMP)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(OBJ)/gen/%.o: $(GEN)/%.c $(GEN)/.proto-stamp | $(FLAGS_STAMP)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -c $< -o $@
$(OBJ)/%.o: $(FLAGS_STAMP)
$(OBJ)/gen/%.o: $(FLAGS_STAMP)

$(LIBTAPIO): $(COMMON_OBJS)
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

# Collector worker binaries: collectors/<name>/*.c (not *.bpf.c, not <name>_def.c)
# → build/bin/tapio-collector-<name>. A collector folder may hold <name>.proto files of its own
# (generated next to the others, linked into that collector only) and a collector.mk setting
# <name>_LIBS (extra libraries) and <name>_DEF_SRCS (sources its definition needs).
define collector_rules
$(1)_SRCS := $(filter-out %.bpf.c collectors/$(1)/$(1)_def.c,$(wildcard collectors/$(1)/*.c))
$(1)_PROTOS := $(wildcard collectors/$(1)/*.proto)
$(1)_PB_C := $$(patsubst %.proto,$(GEN)/%.pb-c.c,$$($(1)_PROTOS))
$(1)_OBJS := $$(patsubst %.c,$(OBJ)/%.o,$$($(1)_SRCS)) $$(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$$($(1)_PB_C))
ifneq ($$($(1)_PROTOS),)
$(GEN)/collectors/$(1)/.proto-stamp: $$($(1)_PROTOS) $(GEN)/.proto-stamp
	$$(call msg,PROTOC,$$($(1)_PROTOS))
	$(Q)mkdir -p $$(@D)
	$(Q)$(PROTOC_C) --c_out=$(GEN) -I. -I/usr/include $$($(1)_PROTOS)
	$(Q)touch $$@
$$($(1)_PB_C) $$($(1)_PB_C:.c=.h): $(GEN)/collectors/$(1)/.proto-stamp
$$($(1)_OBJS): $(GEN)/collectors/$(1)/.proto-stamp
endif
$$($(1)_OBJS): $(SKELS)
$(BIN)/tapio-collector-$(1): $$($(1)_OBJS) $(LIBTAPIO)
	$$(call msg,LD,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$($(1)_LIBS)
endef
$(foreach c,$(COLLECTORS),$(eval $(call collector_rules,$(c))))
COLLECTOR_BINS := $(patsubst %,$(BIN)/tapio-collector-%,$(COLLECTORS))

SUP_SRCS := $(wildcard supervisor/*.c)
SUP_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(SUP_SRCS))
# The NATS sink's client library links into tapiod (and the tests) only, not the workers.
NATS_LIBS := $(shell pkg-config --libs libnats 2>/dev/null || echo -lnats)
$(BIN)/tapiod: $(SUP_OBJS) $(LIBTAPIO)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(NATS_LIBS) -lpthread

CTL_SRCS := $(wildcard tapioctl/*.c)
CTL_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(CTL_SRCS))
$(BIN)/tapioctl: $(CTL_OBJS) $(LIBTAPIO)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# ---- tests ----------------------------------------------------------------------------------
CRIT_LIBS := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion) -ljson-c
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(UNIT_SRCS))
# Test-only schemas (e.g. every field type for the JSON encoder), generated like proto/.
TEST_PROTOS := $(wildcard tests/unit/*.proto)
TEST_PB_C := $(patsubst %.proto,$(GEN)/%.pb-c.c,$(TEST_PROTOS))
$(GEN)/tests/.proto-stamp: $(TEST_PROTOS) $(GEN)/.proto-stamp
	$(call msg,PROTOC,$(TEST_PROTOS))
	$(Q)mkdir -p $(GEN)/tests
	$(Q)$(PROTOC_C) --c_out=$(GEN) -I. -I/usr/include $(TEST_PROTOS)
	$(Q)touch $@
$(TEST_PB_C) $(TEST_PB_C:.c=.h): $(GEN)/tests/.proto-stamp
$(UNIT_OBJS): $(GEN)/tests/.proto-stamp
UNIT_OBJS += $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(TEST_PB_C))
INTEG_SRCS := $(wildcard tests/integration/*.c) $(wildcard tests/bpf/*.c)
INTEG_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(INTEG_SRCS))
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)

# The unit tests link tapiod's own objects (all but main.o, which holds only main()).
SUP_LIB_OBJS := $(filter-out $(OBJ)/supervisor/main.o,$(SUP_OBJS))
$(BUILD)/tests/unit-tests: $(UNIT_OBJS) $(SUP_LIB_OBJS) $(LIBTAPIO)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CRIT_LIBS) $(NATS_LIBS) -lpthread
# Integration tests may drive a collector's own client (the CRI test does: nghttp2).
# The NATS test reads a spool tapiod left behind with tapiod's own spool code.
$(BUILD)/tests/integration-tests: $(INTEG_OBJS) $(OBJ)/supervisor/spool.o $(LIBTAPIO)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CRIT_LIBS) $(cri_LIBS) $(NATS_LIBS)
$(BUILD)/tests/%: tests/helpers/%.c $(LIBTAPIO) | $(FLAGS_STAMP)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBTAPIO) $(PKG_LIBS)

# Tests that use a collector's own generated protocol code (CRI's runtime.v1).
CRI_STAMP := $(GEN)/collectors/cri/.proto-stamp
$(OBJ)/tests/integration/test_cri.o $(OBJ)/tests/integration/test_cni.o $(OBJ)/tests/unit/test_cri_grpc.o $(BUILD)/fuzz/fuzz_cri_grpc: $(CRI_STAMP)
ETCD_STAMP := $(GEN)/collectors/etcd/.proto-stamp
$(OBJ)/tests/integration/test_etcd.o: $(ETCD_STAMP)
$(BUILD)/fuzz/fuzz_etcd_parse: collectors/etcd/etcd_parse.c collectors/etcd/etcd_parse.h
# Fuzz targets that include collector sources rebuild when those change.
$(BUILD)/fuzz/fuzz_dns_packet $(BUILD)/fuzz/fuzz_dns_parse: $(wildcard collectors/dns/*.[ch])
$(BUILD)/fuzz/fuzz_kubeapi_stream: $(wildcard collectors/kubeapi/*.[ch])
$(BUILD)/fuzz/fuzz_kubeapi_stream: PKG_LIBS += -ljson-c
$(BUILD)/fuzz/fuzz_kubelet_json: $(wildcard collectors/kubelet/*.[ch])
$(BUILD)/fuzz/fuzz_kubelet_json: PKG_LIBS += -ljson-c
$(BUILD)/fuzz/fuzz_cni_json: $(wildcard collectors/cni/*.[ch])
$(BUILD)/fuzz/fuzz_cni_json: PKG_LIBS += -ljson-c

# Fuzz targets: libFuzzer with clang (ASan+UBSan), one binary per tests/fuzz/<name>.c
# (FUZZ_LIBS: what common/ and the fuzzed collector code need beyond PKG_LIBS).
FUZZ_LIBS := -ljson-c -lnghttp2 -lssl -lcrypto
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(COMMON_SRCS) $(DEF_SRCS) $(DEF_TABLE) $(GEN)/.proto-stamp
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -I. -I$(GEN) -Icommon -Ibpf $(PKG_CFLAGS) \
		-o $@ $< $(COMMON_SRCS) $(DEF_SRCS) $(DEF_TABLE) $(PB_C) $(PKG_LIBS) $(FUZZ_LIBS)

# ---- benchmarks (not part of make test) -----------------------------------------------------
$(BUILD)/bench/dns_parse_bench: bench/dns_parse_bench.c collectors/dns/dns_parse.c collectors/dns/dns_parse.h | $(FLAGS_STAMP)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

KL_BENCH_SRCS := collectors/kubelet/kubelet_parse.c collectors/kubelet/kubelet_state.c
$(BUILD)/bench/kubelet_poll_bench: bench/kubelet_poll_bench.c $(KL_BENCH_SRCS) collectors/kubelet/kubelet.h $(LIBTAPIO) | $(FLAGS_STAMP)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(KL_BENCH_SRCS) $(LIBTAPIO) $(PKG_LIBS) -ljson-c

# tapiod's joins per event (supervisor/meta.c), linked with tapiod's own objects.
$(BUILD)/bench/join_bench: bench/join_bench.c $(SUP_LIB_OBJS) $(LIBTAPIO) | $(FLAGS_STAMP)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(SUP_LIB_OBJS) $(LIBTAPIO) $(PKG_LIBS) $(NATS_LIBS) -lpthread

# The etcd PUT storm writer (bench/etcd.py): the shared gRPC client and the etcd subset proto.
$(BUILD)/bench/etcd_put_storm: bench/etcd_put_storm.c $(GEN)/collectors/etcd/etcd_rpc.pb-c.c $(LIBTAPIO) | $(FLAGS_STAMP)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBTAPIO) $(PKG_LIBS) -lnghttp2 -lssl -lcrypto

# Builds what it needs itself (a collector that does not build is left out, not fatal).
bench: $(BUILD)/bench/dns_parse_bench $(BUILD)/bench/kubelet_poll_bench $(BUILD)/bench/join_bench $(BUILD)/bench/etcd_put_storm
	$(Q)./bench/run.sh $(BENCH_ARGS)
	$(Q)$(BUILD)/bench/dns_parse_bench
	$(Q)$(BUILD)/bench/kubelet_poll_bench
	$(Q)$(BUILD)/bench/join_bench
	$(Q)./bench/cni_exec.sh
	$(Q)/usr/bin/python3 bench/etcd.py $(ETCD_BENCH_ARGS)
	$(Q)/usr/bin/python3 bench/instr.py $(INSTR_ARGS)
# Instructions per event through worker and tapiod, counted by callgrind (bench/instr.py);
# INSTR_ARGS='--tree /path/to/other/tree --tree .' compares two built trees in one run.
bench-instr: $(BIN)/tapiod $(BIN)/tapio-collector-bench
	$(Q)/usr/bin/python3 bench/instr.py $(INSTR_ARGS)
# The cni collector's exec filter alone (bench/results/<date>-cni.md).
bench-cni:
	$(Q)./bench/cni_exec.sh $(BENCH_ARGS)

# ---- top-level targets ----------------------------------------------------------------------
ALL_BINS := $(BIN)/tapiod $(BIN)/tapioctl $(COLLECTOR_BINS)
.DEFAULT_GOAL := all
.PHONY: all deps run test test-unit test-integration test-kernels test-kernels-arm64 bench-kernels fuzz check clean format bench bench-cni bench-instr image image-build image-check
all: $(ALL_BINS)

# The image test (tests/integration/test_image.c) runs build/image; a sanitizer build's
# tests use the plain build's image (scripts/build-image.sh).
IMAGE ?= tapio:dev
TEST_IMAGE := $(if $(SANITIZE),,image-build)
tests: $(ALL_BINS) bpf-arm64 $(BUILD)/tests/unit-tests $(BUILD)/tests/integration-tests $(HELPER_BINS) $(TEST_IMAGE)

# Quick (under a second): rebuilt every time, so the labels follow the checked-out commit.
image: deps
	$(Q)$(MAKE) --no-print-directory image-build
image-build: $(ALL_BINS)
	$(call msg,IMAGE,$(BUILD)/image $(IMAGE))
	$(Q)BUILD=$(BUILD) IMAGE=$(IMAGE) ./scripts/build-image.sh
image-check: $(ALL_BINS)
	$(Q)BUILD=$(BUILD) IMAGE=$(IMAGE) MAKE="$(MAKE)" ./scripts/build-image.sh --check

deps:
	$(Q)./scripts/install-deps.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./scripts/prepare-host.sh
	$(Q)exec $(BIN)/tapiod $(if $(CONFIG),--config $(CONFIG))

test: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)./scripts/run-tests.sh

test-unit: tests
	$(Q)$(BUILD)/tests/unit-tests

test-integration: tests
	$(Q)./scripts/prepare-host.sh
	$(Q)$(BUILD)/tests/integration-tests

# Debian's kernels under qemu (scripts/test-kernels.sh): fetched with apt-get, cached in build/.
test-kernels: $(ALL_BINS) $(BUILD)/tests/integration-tests $(HELPER_BINS)
	$(Q)BUILD=$(BUILD) ./scripts/test-kernels.sh $(KERNEL_ARGS) $(KERNELS)
	$(Q)$(MAKE) --no-print-directory test-kernels-arm64

# The arm64 BPF objects through the arm64 verifier, attached, on Debian's arm64 kernels under
# qemu-system-aarch64 (scripts/test-kernels-arm64.sh).
test-kernels-arm64: bpf-arm64
	$(Q)BUILD=$(BUILD) ./scripts/test-kernels-arm64.sh $(KERNELS)

# The security collector's hook sets, per-syscall cost side by side in Debian's kernels under
# qemu (bench/kernel-hooks.sh; not part of make test).
bench-kernels: $(ALL_BINS) $(BUILD)/tests/integration-tests $(HELPER_BINS)
	$(Q)BUILD=$(BUILD) ./bench/kernel-hooks.sh $(KERNELS)

fuzz: $(FUZZ_BINS)

check: all bpf-arm64
	$(Q)./scripts/check-layers.sh
	$(Q)clang-format --dry-run -Werror $(COMMON_SRCS) $(SUP_SRCS) $(wildcard collectors/*/*.c collectors/*/*.h common/*.h supervisor/*.h)

format:
	$(Q)clang-format -i $(wildcard common/*.[ch] supervisor/*.[ch] collectors/*/*.[ch] tests/*/*.[ch] bench/*.c)

clean:
	$(Q)rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
