# SPDX-License-Identifier: Apache-2.0
# Extra libraries of the systemd collector (sd-bus and sd-journal).
systemd_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)
