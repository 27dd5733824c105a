# SPDX-License-Identifier: Apache-2.0
# The check of collectors.security.capabilities (security_def.c) parses capability names.
security_DEF_SRCS := collectors/security/security_names.c
