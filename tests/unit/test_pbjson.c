// SPDX-License-Identifier: Apache-2.0
// Unit tests of common/pbjson.c: every field type and presence rule of the canonical JSON
// mapping, on the test schemas tests/unit/pbjson_types*.proto and on the real tapio.v1 schema.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pbjson.h"
#include "strbuf.h"
#include "tapio/v1/event.pb-c.h"
#include "tapio/v1/worker.pb-c.h"
#include "tests/unit/pbjson_types.pb-c.h"
#include "tests/unit/pbjson_types3.pb-c.h"

/* Encode `msg` and compare with the exact expected JSON. */
#define assert_json(msg, want)                                                          \
	do {                                                                            \
		struct strbuf sb_ = STRBUF_INIT;                                        \
		int r_ = pbjson_encode((const ProtobufCMessage *)(msg), &sb_);          \
		cr_assert_eq(r_, 0, "pbjson_encode returned %d", r_);                   \
		cr_assert_str_eq(sb_.data, (want));                                     \
		cr_assert_eq(sb_.len, strlen(want));                                    \
		strbuf_release(&sb_);                                                   \
	} while (0)

#define assert_encode_rc(msg, want_rc)                                                  \
	do {                                                                            \
		struct strbuf sb_ = STRBUF_INIT;                                        \
		int r_ = pbjson_encode((const ProtobufCMessage *)(msg), &sb_);          \
		cr_assert_eq(r_, (want_rc), "pbjson_encode returned %d, want %d", r_,   \
			     (want_rc));                                                \
		strbuf_release(&sb_);                                                   \
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- scalars --------------------------------------------------------------------------------- */

Test(pbjson, empty_message_is_empty_object)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	assert_json(&m, "{}");
}

Test(pbjson, int32_types_are_numbers)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	m.has_f_int32 = 1;
	m.f_int32 = INT32_MIN;
	m.has_f_sint32 = 1;
	m.f_sint32 = -1;
	m.has_f_sfixed32 = 1;
	m.f_sfixed32 = INT32_MAX;
	assert_json(&m, "{\"fInt32\":-2147483648,\"fSint32\":-1,\"fSfixed32\":2147483647}");
}

Test(pbjson, uint32_types_are_numbers)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	m.has_f_uint32 = 1;
	m.f_uint32 = UINT32_MAX;
	m.has_f_fixed32 = 1;
	m.f_fixed32 = 0;
	assert_json(&m, "{\"fUint32\":4294967295,\"fFixed32\":0}");
}

Test(pbjson, int64_types_are_strings)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	m.has_f_int64 = 1;
	m.f_int64 = INT64_MIN;
	m.has_f_uint64 = 1;
	m.f_uint64 = UINT64_MAX;
	m.has_f_sint64 = 1;
	m.f_sint64 = -1;
	m.has_f_fixed64 = 1;
	m.f_fixed64 = 0;
	m.has_f_sfixed64 = 1;
	m.f_sfixed64 = INT64_MAX;
	assert_json(&m, "{\"fInt64\":\"-9223372036854775808\",\"fUint64\":\"18446744073709551615\","
			"\"fSint64\":\"-1\",\"fFixed64\":\"0\","
			"\"fSfixed64\":\"9223372036854775807\"}");
}

Test(pbjson, absent_optional_scalars_are_omitted)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	/* values without their has_ flag are not set */
	m.f_int32 = 5;
	m.f_uint64 = 6;
	m.f_double = 1.5;
	m.f_bool = 1;
	m.f_enum = TAPIO__TEST__COLOR__COLOR_RED;
	m.f_bytes.len = 1;
	m.f_bytes.data = (uint8_t *)"x";
	m.has_f_int64 = 1; /* only this one is present */
	assert_json(&m, "{\"fInt64\":\"0\"}");
}

Test(pbjson, bool_values)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	m.has_f_bool = 1;
	m.f_bool = 0;
	assert_json(&m, "{\"fBool\":false}");
	m.f_bool = 1;
	assert_json(&m, "{\"fBool\":true}");
}

/* Parameters are copied into the test worker process, so they hold arrays, not pointers. */
struct float_case {
	double v;
	char want[32];
};

ParameterizedTestParameters(pbjson, double_values)
{
	static struct float_case cases[] = {
		{ 0.0, "0" },
		{ -0.0, "-0" },
		{ 1.0, "1" },
		{ -2.5, "-2.5" },
		{ 0.1, "0.10000000000000001" },
		{ 1e21, "1e+21" },
		{ 1e300, "1.0000000000000001e+300" },
		{ 123456789012345678.0, "1.2345678901234568e+17" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 5e-324, "4.9406564584124654e-324" },
		{ NAN, "\"NaN\"" },
		{ INFINITY, "\"Infinity\"" },
		{ -INFINITY, "\"-Infinity\"" },
	};
	return cr_make_param_array(struct float_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct float_case *c, pbjson, double_values)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	char want[128];

	m.has_f_double = 1;
	m.f_double = c->v;
	snprintf(want, sizeof(want), "{\"fDouble\":%s}", c->want);
	assert_json(&m, want);
}

ParameterizedTestParameters(pbjson, float_values)
{
	static struct float_case cases[] = {
		{ 0.0, "0" },
		{ -1.0, "-1" },
		{ 0.1, "0.100000001" }, /* the float nearest to 0.1 */
		{ 3.4028234663852886e38, "3.40282347e+38" },
		{ 1.401298464324817e-45, "1.40129846e-45" },
		{ NAN, "\"NaN\"" },
		{ INFINITY, "\"Infinity\"" },
		{ -INFINITY, "\"-Infinity\"" },
	};
	return cr_make_param_array(struct float_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct float_case *c, pbjson, float_values)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	char want[128];

	m.has_f_float = 1;
	m.f_float = (float)c->v;
	snprintf(want, sizeof(want), "{\"fFloat\":%s}", c->want);
	assert_json(&m, want);
}

/* Switch LC_NUMERIC to a locale whose decimal point is ','; builds one with localedef into a
 * temporary LOCPATH when none is installed. Returns 0 when the locale is active. */
static int use_comma_locale(void)
{
	static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "de_DE" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (setlocale(LC_NUMERIC, names[i]))
			return 0;

	char dir[] = "/tmp/pbjson-locale-XXXXXX";
	char cmd[256];
	if (!mkdtemp(dir))
		return -errno;
	snprintf(cmd, sizeof(cmd),
		 "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1", dir);
	if (system(cmd) != 0)
		return -ENOENT;
	setenv("LOCPATH", dir, 1);
	int r = setlocale(LC_NUMERIC, "de_DE.UTF-8") ? 0 : -ENOENT;
	/* the locale is loaded now; the files are no longer needed */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		r = r ? r : 0;
	return r;
}

Test(pbjson, floats_use_dot_in_any_locale)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	char probe[16];

	if (use_comma_locale() < 0)
		cr_skip_test("no locale with a decimal comma available");
	snprintf(probe, sizeof(probe), "%.1f", 1.5);
	cr_assert_str_eq(probe, "1,5", "the locale switch did not take effect");

	m.has_f_double = 1;
	m.f_double = -1234.5;
	m.has_f_float = 1;
	m.f_float = 2.5f;
	assert_json(&m, "{\"fFloat\":2.5,\"fDouble\":-1234.5}");
	m.f_double = 0x1p-20;
	assert_json(&m, "{\"fFloat\":2.5,\"fDouble\":9.5367431640625e-07}");
}

Test(pbjson, enum_names_and_unknown_numbers)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	Tapio__Test__Color colors[] = { TAPIO__TEST__COLOR__COLOR_UNSPECIFIED,
					TAPIO__TEST__COLOR__COLOR_GREEN,
					TAPIO__TEST__COLOR__COLOR_NEGATIVE, (Tapio__Test__Color)42,
					(Tapio__Test__Color)-7 };

	m.has_f_enum = 1;
	m.f_enum = TAPIO__TEST__COLOR__COLOR_RED;
	m.n_r_enum = ARRAY_SIZE(colors);
	m.r_enum = colors;
	assert_json(&m, "{\"fEnum\":\"COLOR_RED\",\"rEnum\":[\"COLOR_UNSPECIFIED\",\"COLOR_GREEN\","
			"\"COLOR_NEGATIVE\",42,-7]}");
}

/* ---- bytes ----------------------------------------------------------------------------------- */

struct bytes_case {
	char in[8];
	size_t len;
	char want[16];
};

#define BYTES(s) s, sizeof(s) - 1

ParameterizedTestParameters(pbjson, bytes_are_base64)
{
	static struct bytes_case cases[] = {
		/* RFC 4648 §10 test vectors */
		{ BYTES(""), "" },
		{ BYTES("f"), "Zg==" },
		{ BYTES("fo"), "Zm8=" },
		{ BYTES("foo"), "Zm9v" },
		{ BYTES("foob"), "Zm9vYg==" },
		{ BYTES("fooba"), "Zm9vYmE=" },
		{ BYTES("foobar"), "Zm9vYmFy" },
		/* the standard alphabet, not the URL-safe one */
		{ BYTES("\xfb\xff"), "+/8=" },
		{ BYTES("\xff\xfe\x00"), "//4A" },
		{ BYTES("\x00\x00\x00\x00"), "AAAAAA==" },
	};
	return cr_make_param_array(struct bytes_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct bytes_case *c, pbjson, bytes_are_base64)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	char want[128];

	m.has_f_bytes = 1;
	m.f_bytes.len = c->len;
	m.f_bytes.data = (uint8_t *)c->in;
	snprintf(want, sizeof(want), "{\"fBytes\":\"%s\"}", c->want);
	assert_json(&m, want);
}

/* ---- strings --------------------------------------------------------------------------------- */

struct str_case {
	char in[32];
	size_t len;
	char want[64]; /* without the surrounding quotes */
};

#define FFFD "\xef\xbf\xbd"

ParameterizedTestParameters(pbjson, string_escaping)
{
	static struct str_case cases[] = {
		{ BYTES(""), "" },
		{ BYTES("plain text / 123"), "plain text / 123" },
		{ BYTES("a\"b\\c"), "a\\\"b\\\\c" },
		{ BYTES("\b\f\n\r\t"), "\\b\\f\\n\\r\\t" },
		{ BYTES("\x01\x1f"), "\\u0001\\u001f" },
		{ BYTES("a\0b"), "a\\u0000b" },
		{ BYTES("\x7f"), "\x7f" },
		/* valid UTF-8 passes through raw, boundaries of each length */
		{ BYTES("\xc2\x80 \xdf\xbf"), "\xc2\x80 \xdf\xbf" },
		{ BYTES("\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf"),
		  "\xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf" },
		{ BYTES("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"), "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf" },
		{ BYTES("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e"),
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e" },
		/* invalid UTF-8: one U+FFFD per maximal ill-formed subpart (like Python's
		 * errors="replace") */
		{ BYTES("\x80"), FFFD },
		{ BYTES("\xbf\x80"), FFFD FFFD },
		{ BYTES("\xc0\xaf"), FFFD FFFD },			/* overlong '/' */
		{ BYTES("\xc1\xbf"), FFFD FFFD },			/* overlong */
		{ BYTES("\xe0\x80\xaf"), FFFD FFFD FFFD },		/* overlong 3-byte */
		{ BYTES("\xf0\x80\x80\xaf"), FFFD FFFD FFFD FFFD },	/* overlong 4-byte */
		{ BYTES("\xed\xa0\x80"), FFFD FFFD FFFD },		/* surrogate U+D800 */
		{ BYTES("\xed\xbf\xbf"), FFFD FFFD FFFD },		/* surrogate U+DFFF */
		{ BYTES("\xf4\x90\x80\x80"), FFFD FFFD FFFD FFFD },	/* U+110000 */
		{ BYTES("\xf5\x80\x80\x80"), FFFD FFFD FFFD FFFD },
		{ BYTES("\xf8\x88\x80\x80\x80"), FFFD FFFD FFFD FFFD FFFD },
		{ BYTES("\xfe\xff"), FFFD FFFD },
		{ BYTES("\xc3"), FFFD },				/* truncated at the end */
		{ BYTES("\xe2\x82"), FFFD },
		{ BYTES("\xf0\x9d\x84"), FFFD },
		{ BYTES("\xe2\x82" "A"), FFFD "A" },		/* truncated mid-string */
		{ BYTES("\xf0\x9d\x84x"), FFFD "x" },
		{ BYTES("\xe1\x80\xe2\xf0\x91\x92\xf1\xbf" "A"), FFFD FFFD FFFD FFFD "A" },
		{ BYTES("a\xc3\xa9\xff" "b\n"), "a\xc3\xa9" FFFD "b\\n" },
		{ BYTES("\xc3\""), FFFD "\\\"" },
	};
	return cr_make_param_array(struct str_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct str_case *c, pbjson, string_escaping)
{
	struct strbuf sb = STRBUF_INIT;
	char want[256];

	snprintf(want, sizeof(want), "\"%s\"", c->want);
	cr_assert_eq(pbjson_append_string(&sb, c->in, c->len), 0);
	cr_assert_str_eq(sb.data, want);
	strbuf_release(&sb);
}

Test(pbjson, append_string_appends_to_existing_content)
{
	struct strbuf sb = STRBUF_INIT;

	cr_assert_eq(strbuf_append_str(&sb, "x="), 0);
	cr_assert_eq(pbjson_append_string(&sb, NULL, 0), 0);
	cr_assert_eq(pbjson_append_string(&sb, "abc", 2), 0);
	cr_assert_str_eq(sb.data, "x=\"\"\"ab\"");
	cr_assert_eq(pbjson_append_string(&sb, NULL, 1), -EINVAL);
	strbuf_release(&sb);
}

Test(pbjson, string_field_presence)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	cr_assert_null(m.f_string);
	assert_json(&m, "{}");
	m.f_string = "";
	assert_json(&m, "{\"fString\":\"\"}");
	m.f_string = "tab\there";
	assert_json(&m, "{\"fString\":\"tab\\there\"}");
}

Test(pbjson, default_valued_string_is_absent)
{
	Tapio__Test__Defaults m = TAPIO__TEST__DEFAULTS__INIT;

	/* protobuf-c points an unset string with [default = ...] at the default value, and does
	 * not put it on the wire; has_i is false although i holds the default 7 */
	assert_json(&m, "{}");
	m.s = "dflt";
	assert_json(&m, "{\"s\":\"dflt\"}");
	m.has_i = 1;
	assert_json(&m, "{\"s\":\"dflt\",\"i\":7}");
}

/* ---- names ----------------------------------------------------------------------------------- */

struct name_case {
	char field[16];
	char json[16];
};

ParameterizedTestParameters(pbjson, json_names_follow_protoc)
{
	static struct name_case cases[] = {
		{ "a", "a" },
		{ "foo_bar", "fooBar" },
		{ "foo_bar_baz", "fooBarBaz" },
		{ "foo__bar", "fooBar" },
		{ "foo_bar_", "fooBar" },
		{ "_foo", "Foo" },
		{ "foo_1", "foo1" },
		{ "foo_1a", "foo1a" },
		{ "fooBar", "fooBar" },
		{ "foo_bAr", "fooBAr" },
		{ "x_y_z", "xYZ" },
		{ "cgroup_id", "cgroupId" },
		{ "FOO_BAR", "FOOBAR" },
	};
	return cr_make_param_array(struct name_case, cases, ARRAY_SIZE(cases));
}

/* A one-field message described by a hand-built descriptor: the encoder only reads
 * descriptors, so any field name can be tried. */
struct one_int {
	ProtobufCMessage base;
	int32_t v;
};

ParameterizedTest(struct name_case *c, pbjson, json_names_follow_protoc)
{
	const ProtobufCFieldDescriptor field = {
		c->field, 1, PROTOBUF_C_LABEL_REQUIRED, PROTOBUF_C_TYPE_INT32, 0,
		offsetof(struct one_int, v), NULL, NULL, 0, 0, NULL, NULL,
	};
	const ProtobufCMessageDescriptor desc = {
		PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "t.OneInt", "OneInt", "T__OneInt", "t",
		sizeof(struct one_int), 1, &field, NULL, 0, NULL, NULL, NULL, NULL, NULL,
	};
	struct one_int m = { PROTOBUF_C_MESSAGE_INIT(&desc), 3 };
	char want[128];

	snprintf(want, sizeof(want), "{\"%s\":3}", c->json);
	assert_json(&m, want);
}

Test(pbjson, field_name_with_underscores_in_schema)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;

	m.has_snake__case_x_ = 1;
	m.snake__case_x_ = 1;
	assert_json(&m, "{\"snakeCaseX\":1}");
}

/* ---- messages, repeated, oneof --------------------------------------------------------------- */

Test(pbjson, nested_message)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	Tapio__Test__Inner in = TAPIO__TEST__INNER__INIT;

	m.f_inner = &in;
	assert_json(&m, "{\"fInner\":{}}");
	in.has_n = 1;
	in.n = -3;
	in.label_text = "x";
	assert_json(&m, "{\"fInner\":{\"n\":-3,\"labelText\":\"x\"}}");
}

Test(pbjson, repeated_fields)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	int32_t i32[] = { 1, -2 };
	int64_t i64[] = { INT64_MIN, 0 };
	uint32_t u32[] = { UINT32_MAX };
	uint64_t u64[] = { UINT64_MAX, 1 };
	int32_t s32[] = { -5 };
	int64_t s64[] = { -6 };
	uint32_t fx32[] = { 7 };
	uint64_t fx64[] = { 8 };
	int32_t sfx32[] = { -9 };
	int64_t sfx64[] = { -10 };
	float f[] = { 0.5f, NAN };
	double d[] = { -0.25, -INFINITY };
	protobuf_c_boolean b[] = { 1, 0, 1 };
	char *s[] = { "a", "", "b\"" };
	ProtobufCBinaryData by[] = { { 3, (uint8_t *)"foo" }, { 0, NULL } };
	Tapio__Test__Inner in1 = TAPIO__TEST__INNER__INIT, in2 = TAPIO__TEST__INNER__INIT;
	Tapio__Test__Inner *ins[] = { &in1, &in2 };
	Google__Protobuf__Timestamp ts1 = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp ts2 = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp *tss[] = { &ts1, &ts2 };

	in2.has_n = 1;
	in2.n = 2;
	ts2.seconds = 86400;
	ts2.nanos = 500000000;
#define SET(field, arr)                      \
	do {                                 \
		m.n_##field = ARRAY_SIZE(arr); \
		m.field = arr;               \
	} while (0)
	SET(r_int32, i32);
	SET(r_int64, i64);
	SET(r_uint32, u32);
	SET(r_uint64, u64);
	SET(r_sint32, s32);
	SET(r_sint64, s64);
	SET(r_fixed32, fx32);
	SET(r_fixed64, fx64);
	SET(r_sfixed32, sfx32);
	SET(r_sfixed64, sfx64);
	SET(r_float, f);
	SET(r_double, d);
	SET(r_bool, b);
	SET(r_string, s);
	SET(r_bytes, by);
	SET(r_inner, ins);
	SET(r_time, tss);
#undef SET
	assert_json(&m, "{\"rInt32\":[1,-2],\"rInt64\":[\"-9223372036854775808\",\"0\"],"
			"\"rUint32\":[4294967295],\"rUint64\":[\"18446744073709551615\",\"1\"],"
			"\"rSint32\":[-5],\"rSint64\":[\"-6\"],"
			"\"rFixed32\":[7],\"rFixed64\":[\"8\"],"
			"\"rSfixed32\":[-9],\"rSfixed64\":[\"-10\"],\"rFloat\":[0.5,\"NaN\"],"
			"\"rDouble\":[-0.25,\"-Infinity\"],\"rBool\":[true,false,true],"
			"\"rString\":[\"a\",\"\",\"b\\\"\"],\"rBytes\":[\"Zm9v\",\"\"],"
			"\"rInner\":[{},{\"n\":2}],"
			"\"rTime\":[\"1970-01-01T00:00:00Z\",\"1970-01-02T00:00:00.500Z\"]}");
}

Test(pbjson, empty_repeated_is_omitted)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	int32_t i32[] = { 1 };
	char *s[] = { "a" };

	m.n_r_int32 = 0;
	m.r_int32 = i32; /* a pointer with a zero count is still empty */
	m.n_r_string = 0;
	m.r_string = s;
	assert_json(&m, "{}");
}

Test(pbjson, oneof_prints_only_the_set_member)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	Tapio__Test__Inner in = TAPIO__TEST__INNER__INIT;

	assert_json(&m, "{}");

	/* a set member is printed even with its zero value */
	m.choice_case = TAPIO__TEST__ALL_TYPES__CHOICE_O_INT;
	m.o_int = 0;
	assert_json(&m, "{\"oInt\":0}");

	m.choice_case = TAPIO__TEST__ALL_TYPES__CHOICE_O_STR;
	m.o_str = "";
	assert_json(&m, "{\"oStr\":\"\"}");
	m.o_str = "s";
	assert_json(&m, "{\"oStr\":\"s\"}");

	m.choice_case = TAPIO__TEST__ALL_TYPES__CHOICE_O_INNER;
	m.o_inner = &in;
	in.has_n = 1;
	in.n = 1;
	assert_json(&m, "{\"oInner\":{\"n\":1}}");
	m.o_inner = NULL;
	assert_json(&m, "{}");

	m.choice_case = TAPIO__TEST__ALL_TYPES__CHOICE__NOT_SET;
	m.o_int = 5;
	assert_json(&m, "{}");
}

Test(pbjson, required_fields_are_always_printed)
{
	Tapio__Test__Required m = TAPIO__TEST__REQUIRED__INIT;
	Tapio__Test__Inner in = TAPIO__TEST__INNER__INIT;

	m.name = "";
	m.inner = &in;
	assert_json(&m, "{\"id\":0,\"name\":\"\",\"inner\":{}}");
}

Test(pbjson, null_required_or_repeated_element_is_einval)
{
	Tapio__Test__Required req = TAPIO__TEST__REQUIRED__INIT;
	Tapio__Test__Inner in = TAPIO__TEST__INNER__INIT;

	req.name = NULL;
	req.inner = &in;
	assert_encode_rc(&req, -EINVAL);
	req.name = "n";
	req.inner = NULL;
	assert_encode_rc(&req, -EINVAL);

	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	char *s[] = { "a", NULL };
	m.n_r_string = 2;
	m.r_string = s;
	assert_encode_rc(&m, -EINVAL);

	Tapio__Test__AllTypes m2 = TAPIO__TEST__ALL_TYPES__INIT;
	m2.n_r_int32 = 1;
	m2.r_int32 = NULL;
	assert_encode_rc(&m2, -EINVAL);

	Tapio__Test__AllTypes m3 = TAPIO__TEST__ALL_TYPES__INIT;
	m3.has_f_bytes = 1;
	m3.f_bytes.len = 4;
	m3.f_bytes.data = NULL;
	assert_encode_rc(&m3, -EINVAL);
}

Test(pbjson, null_arguments_are_einval)
{
	struct strbuf sb = STRBUF_INIT;
	Tapio__Test__Inner in = TAPIO__TEST__INNER__INIT;
	ProtobufCMessage bad = { NULL, 0, NULL };

	cr_assert_eq(pbjson_encode(NULL, &sb), -EINVAL);
	cr_assert_eq(pbjson_encode(&in.base, NULL), -EINVAL);
	cr_assert_eq(pbjson_encode(&bad, &sb), -EINVAL);
	strbuf_release(&sb);
}

/* ---- proto3 implicit presence ---------------------------------------------------------------- */

Test(pbjson, proto3_zero_values_are_omitted)
{
	Tapio__Test__Scalars3 m = TAPIO__TEST__SCALARS3__INIT;
	int32_t r[] = { 0 };

	assert_json(&m, "{}");
	m.s = NULL; /* NULL and "" are both the empty string */
	m.f = -0.0f;
	m.d = -0.0;
	m.by.len = 0;
	m.by.data = (uint8_t *)"x";
	m.n_r = 0;
	m.r = r;
	assert_json(&m, "{}");
}

Test(pbjson, proto3_non_zero_values_are_printed)
{
	Tapio__Test__Scalars3 m = TAPIO__TEST__SCALARS3__INIT;
	Tapio__Test__Sub3 sub = TAPIO__TEST__SUB3__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	int32_t r[] = { 0, 1 };

	m.i32 = -1;
	m.i64 = -2;
	m.u32 = 3;
	m.u64 = 4;
	m.s32 = -5;
	m.s64 = -6;
	m.fx32 = 7;
	m.fx64 = 8;
	m.sfx32 = -9;
	m.sfx64 = -10;
	m.f = 1.5f;
	m.d = NAN;
	m.b = 1;
	m.s = "s";
	m.by.len = 2;
	m.by.data = (uint8_t *)"hi";
	m.mood = TAPIO__TEST__MOOD__MOOD_HAPPY;
	m.sub = &sub; /* an empty sub-message is still set */
	m.ts = &ts;   /* so is the epoch */
	m.n_r = 2;
	m.r = r;
	assert_json(&m, "{\"i32\":-1,\"i64\":\"-2\",\"u32\":3,\"u64\":\"4\","
			"\"s32\":-5,\"s64\":\"-6\","
			"\"fx32\":7,\"fx64\":\"8\",\"sfx32\":-9,\"sfx64\":\"-10\",\"f\":1.5,"
			"\"d\":\"NaN\",\"b\":true,\"s\":\"s\",\"by\":\"aGk=\","
			"\"mood\":\"MOOD_HAPPY\","
			"\"sub\":{},\"ts\":\"1970-01-01T00:00:00Z\",\"r\":[0,1]}");
}

Test(pbjson, proto3_oneof_member_keeps_presence)
{
	Tapio__Test__Scalars3 m = TAPIO__TEST__SCALARS3__INIT;
	Tapio__Test__Sub3 sub = TAPIO__TEST__SUB3__INIT;

	m.pick_case = TAPIO__TEST__SCALARS3__PICK_P_INT;
	m.p_int = 0;
	assert_json(&m, "{\"pInt\":0}");
	m.pick_case = TAPIO__TEST__SCALARS3__PICK_P_STR;
	m.p_str = (char *)protobuf_c_empty_string;
	assert_json(&m, "{\"pStr\":\"\"}");
	m.pick_case = TAPIO__TEST__SCALARS3__PICK_P_SUB;
	m.p_sub = &sub;
	assert_json(&m, "{\"pSub\":{}}");
}

/* ---- Timestamp ------------------------------------------------------------------------------- */

struct ts_case {
	int64_t seconds;
	int32_t nanos;
	char want[40]; /* empty: -EINVAL */
};

ParameterizedTestParameters(pbjson, timestamp_format)
{
	static struct ts_case cases[] = {
		{ 0, 0, "1970-01-01T00:00:00Z" },
		{ 0, 1000000, "1970-01-01T00:00:00.001Z" },
		{ 0, 10000000, "1970-01-01T00:00:00.010Z" },
		{ 0, 120000000, "1970-01-01T00:00:00.120Z" },
		{ 0, 1000, "1970-01-01T00:00:00.000001Z" },
		{ 0, 123456000, "1970-01-01T00:00:00.123456Z" },
		{ 0, 1, "1970-01-01T00:00:00.000000001Z" },
		{ 0, 123456789, "1970-01-01T00:00:00.123456789Z" },
		{ 0, 999999999, "1970-01-01T00:00:00.999999999Z" },
		{ 1700000000, 0, "2023-11-14T22:13:20Z" },
		{ 1000000000, 500000000, "2001-09-09T01:46:40.500Z" },
		{ -1, 0, "1969-12-31T23:59:59Z" },
		{ -1, 999999999, "1969-12-31T23:59:59.999999999Z" },
		{ -86400, 0, "1969-12-31T00:00:00Z" },
		{ 951782400, 0, "2000-02-29T00:00:00Z" },
		{ 4107542400, 0, "2100-03-01T00:00:00Z" },
		{ -12219292800, 0, "1582-10-15T00:00:00Z" },
		{ -62135596800, 0, "0001-01-01T00:00:00Z" },
		{ 253402300799, 999999999, "9999-12-31T23:59:59.999999999Z" },
		/* out of range */
		{ -62135596801, 0, "" },
		{ 253402300800, 0, "" },
		{ INT64_MIN, 0, "" },
		{ INT64_MAX, 0, "" },
		{ 0, -1, "" },
		{ 0, 1000000000, "" },
		{ 0, INT32_MIN, "" },
	};
	return cr_make_param_array(struct ts_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct ts_case *c, pbjson, timestamp_format)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char want[128];

	ts.seconds = c->seconds;
	ts.nanos = c->nanos;
	m.f_time = &ts;
	if (!c->want[0]) {
		assert_encode_rc(&m, -EINVAL);
		return;
	}
	snprintf(want, sizeof(want), "{\"fTime\":\"%s\"}", c->want);
	assert_json(&m, want);
}

Test(pbjson, timestamp_matches_gmtime)
{
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct strbuf sb = STRBUF_INIT;
	char want[64];

	/* ~40k seconds values spread over the whole range, hitting every hour/day/leap rule */
	for (int64_t s = -62135596800; s <= 253402300799; s += 7919 * 997 + 13) {
		time_t t = (time_t)s;
		struct tm tm;
		cr_assert_not_null(gmtime_r(&t, &tm));
		snprintf(want, sizeof(want), "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		ts.seconds = s;
		strbuf_reset(&sb);
		cr_assert_eq(pbjson_encode(&ts.base, &sb), 0);
		cr_assert_str_eq(sb.data, want, "seconds %lld", (long long)s);
	}
	strbuf_release(&sb);
}

Test(pbjson, top_level_timestamp_is_a_string)
{
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

	ts.seconds = 1;
	ts.nanos = 2000;
	assert_json(&ts, "\"1970-01-01T00:00:01.000002Z\"");
}

/* ---- limits ---------------------------------------------------------------------------------- */

Test(pbjson, depth_cap)
{
	Tapio__Test__Node nodes[40];

	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		tapio__test__node__init(&nodes[i]);
		nodes[i].child = i + 1 < ARRAY_SIZE(nodes) ? &nodes[i + 1] : NULL;
	}
	/* 32 levels, counting the top-level message */
	nodes[31].child = NULL;
	nodes[31].has_v = 1;
	nodes[31].v = 1;

	struct strbuf sb = STRBUF_INIT;
	cr_assert_eq(pbjson_encode(&nodes[0].base, &sb), 0);
	cr_assert_eq(sb.len, 31 * strlen("{\"child\":") + strlen("{\"v\":1}") + 31);
	cr_assert_eq(strncmp(sb.data + 31 * 9, "{\"v\":1}", 7), 0);
	strbuf_release(&sb);

	nodes[31].child = &nodes[32];
	nodes[32].child = NULL;
	assert_encode_rc(&nodes[0], -EINVAL);

	/* a cycle would recurse forever without the cap */
	nodes[32].child = &nodes[0];
	assert_encode_rc(&nodes[0], -EINVAL);
}

/* A message using every code path, for the cap sweep. */
static Tapio__Test__AllTypes *rich_message(void)
{
	static Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	static Tapio__Test__Inner in = TAPIO__TEST__INNER__INIT;
	static Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	static int64_t i64[] = { -1, 2 };
	static char *strs[] = { "\x01\"", "\xff\xc3\xa9" };
	static double d[] = { 0.1, NAN };
	static Tapio__Test__Color colors[] = { TAPIO__TEST__COLOR__COLOR_RED, 77 };

	m.has_f_int32 = 1;
	m.f_int32 = -12;
	m.has_f_uint64 = 1;
	m.f_uint64 = 12345678901234;
	m.has_f_float = 1;
	m.f_float = -INFINITY;
	m.has_f_double = 1;
	m.f_double = 1e-300;
	m.has_f_bool = 1;
	m.f_bool = 1;
	m.f_string = "esc \\ \" \n \x02 bad \xed\xa0\x80 ok \xe2\x82\xac";
	m.has_f_bytes = 1;
	m.f_bytes.len = 5;
	m.f_bytes.data = (uint8_t *)"\x00\xff\x10\x20\x30";
	m.has_f_enum = 1;
	m.f_enum = TAPIO__TEST__COLOR__COLOR_GREEN;
	in.has_n = 1;
	in.n = 1;
	in.label_text = "inner";
	m.f_inner = &in;
	ts.seconds = 1700000000;
	ts.nanos = 1000;
	m.f_time = &ts;
	m.n_r_int64 = ARRAY_SIZE(i64);
	m.r_int64 = i64;
	m.n_r_string = ARRAY_SIZE(strs);
	m.r_string = strs;
	m.n_r_double = ARRAY_SIZE(d);
	m.r_double = d;
	m.n_r_enum = ARRAY_SIZE(colors);
	m.r_enum = colors;
	m.choice_case = TAPIO__TEST__ALL_TYPES__CHOICE_O_STR;
	m.o_str = "one";
	return &m;
}

/* Under every cap below the full length encoding fails with -ENOBUFS and leaves a prefix of
 * the full output; a cap of exactly the full length succeeds (no token over-reserves). */
static void check_cap_sweep(const ProtobufCMessage *m)
{
	struct strbuf full = STRBUF_INIT;

	cr_assert_eq(pbjson_encode(m, &full), 0);
	for (size_t cap = 1; cap < full.len; cap++) {
		struct strbuf sb;
		strbuf_init(&sb, cap);
		cr_assert_eq(pbjson_encode(m, &sb), -ENOBUFS, "cap %zu", cap);
		cr_assert_leq(sb.len, cap);
		cr_assert_eq(memcmp(sb.data ? sb.data : "", full.data, sb.len), 0, "cap %zu", cap);
		strbuf_release(&sb);
	}
	struct strbuf exact;
	strbuf_init(&exact, full.len);
	cr_assert_eq(pbjson_encode(m, &exact), 0, "cap %zu", full.len);
	cr_assert_str_eq(exact.data, full.data);
	strbuf_release(&exact);
	strbuf_release(&full);
}

Test(pbjson, cap_gives_enobufs_with_a_prefix)
{
	const Tapio__Test__AllTypes *m = rich_message();
	struct strbuf full = STRBUF_INIT;

	cr_assert_eq(pbjson_encode(&m->base, &full), 0);
	cr_assert_str_eq(full.data,
			 "{\"fInt32\":-12,\"fUint64\":\"12345678901234\",\"fFloat\":\"-Infinity\","
			 "\"fDouble\":1e-300,\"fBool\":true,"
			 "\"fString\":\"esc \\\\ \\\" \\n \\u0002 bad " FFFD FFFD FFFD
			 " ok \xe2\x82\xac\",\"fBytes\":\"AP8QIDA=\",\"fEnum\":\"COLOR_GREEN\","
			 "\"fInner\":{\"n\":1,\"labelText\":\"inner\"},"
			 "\"fTime\":\"2023-11-14T22:13:20.000001Z\",\"rInt64\":[\"-1\",\"2\"],"
			 "\"rDouble\":[0.10000000000000001,\"NaN\"],"
			 "\"rString\":[\"\\u0001\\\"\",\"" FFFD "\xc3\xa9\"],"
			 "\"rEnum\":[\"COLOR_RED\",77],\"oStr\":\"one\"}");

	check_cap_sweep(&m->base);
	strbuf_release(&full);
}

/* ---- the real schema ------------------------------------------------------------------------- */

#define EXEC_JSON                                                                                 \
	"{\"id\":\"run-1-42\",\"collector\":\"process\",\"type\":\"process.exec\","               \
	"\"time\":\"2023-11-14T22:13:20.123456789Z\",\"node\":\"node-a\",\"seq\":\"42\","         \
	"\"process\":{\"pid\":4242,\"tid\":4243,\"ppid\":1,\"uid\":0,\"gid\":0,\"comm\":\"curl\"," \
	"\"cgroupId\":\"12345\",\"euid\":0},"                                                     \
	"\"k8s\":{\"containerId\":\"abc123\",\"runtime\":\"containerd\",\"podName\":\"web-0\","   \
	"\"namespace\":\"default\"},"                                                             \
	"\"bootNs\":\"987654321012345\","                                                         \
	"\"processExec\":{\"filename\":\"/usr/bin/curl\","                                        \
	"\"argv\":[\"curl\",\"-s\",\"http://example.com/?q=\\\"x\\\"&t=\\t\"],"                   \
	"\"argvTruncated\":false,\"oldPid\":4243,\"argc\":3}}"

struct exec_event {
	Tapio__V1__Event ev;
	Google__Protobuf__Timestamp time;
	Tapio__V1__ProcessContext proc;
	Tapio__V1__KubernetesContext k8s;
	Tapio__V1__ProcessExec exec;
	char *argv[3];
};

static void build_exec_event(struct exec_event *e)
{
	tapio__v1__event__init(&e->ev);
	google__protobuf__timestamp__init(&e->time);
	tapio__v1__process_context__init(&e->proc);
	tapio__v1__kubernetes_context__init(&e->k8s);
	tapio__v1__process_exec__init(&e->exec);

	e->ev.id = "run-1-42";
	e->ev.collector = "process";
	e->ev.type = "process.exec";
	e->time.seconds = 1700000000;
	e->time.nanos = 123456789;
	e->ev.time = &e->time;
	e->ev.node = "node-a";
	e->ev.has_seq = 1;
	e->ev.seq = 42;

	e->proc.has_pid = 1;
	e->proc.pid = 4242;
	e->proc.has_tid = 1;
	e->proc.tid = 4243;
	e->proc.has_ppid = 1;
	e->proc.ppid = 1;
	e->proc.has_uid = 1;
	e->proc.has_gid = 1;
	e->proc.comm = "curl";
	e->proc.has_cgroup_id = 1;
	e->proc.cgroup_id = 12345;
	e->proc.loginuid = 4294967295u; /* unset: has_loginuid stays false */
	e->proc.has_euid = 1;
	e->ev.process = &e->proc;

	e->k8s.container_id = "abc123";
	e->k8s.runtime = "containerd";
	e->k8s.pod_name = "web-0";
	e->k8s.namespace_ = "default";
	e->ev.k8s = &e->k8s;
	e->ev.has_boot_ns = 1;
	e->ev.boot_ns = 987654321012345;

	e->exec.filename = "/usr/bin/curl";
	e->argv[0] = "curl";
	e->argv[1] = "-s";
	e->argv[2] = "http://example.com/?q=\"x\"&t=\t";
	e->exec.n_argv = 3;
	e->exec.argv = e->argv;
	e->exec.has_argv_truncated = 1;
	e->exec.has_old_pid = 1;
	e->exec.old_pid = 4243;
	e->exec.has_argc = 1;
	e->exec.argc = 3;
	e->ev.payload_case = TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXEC;
	e->ev.process_exec = &e->exec;
}

Test(pbjson, event_with_process_exec)
{
	struct exec_event e;

	build_exec_event(&e);
	assert_json(&e.ev, EXEC_JSON);
}

Test(pbjson, event_json_survives_the_wire)
{
	struct exec_event e;

	build_exec_event(&e);
	size_t n = tapio__v1__event__get_packed_size(&e.ev);
	uint8_t *buf = malloc(n);
	cr_assert_not_null(buf);
	tapio__v1__event__pack(&e.ev, buf);
	Tapio__V1__Event *back = tapio__v1__event__unpack(NULL, n, buf);
	cr_assert_not_null(back);
	assert_json(back, EXEC_JSON);
	tapio__v1__event__free_unpacked(back, NULL);
	free(buf);
}

Test(pbjson, worker_frame_with_a_batch)
{
	struct exec_event e;
	Tapio__V1__Event empty = TAPIO__V1__EVENT__INIT;
	Tapio__V1__Event *events[] = { &e.ev, &empty };
	Tapio__V1__EventBatch batch = TAPIO__V1__EVENT_BATCH__INIT;
	Tapio__V1__WorkerFrame frame = TAPIO__V1__WORKER_FRAME__INIT;

	build_exec_event(&e);
	batch.n_events = ARRAY_SIZE(events);
	batch.events = events;
	frame.body_case = TAPIO__V1__WORKER_FRAME__BODY_BATCH;
	frame.batch = &batch;
	assert_json(&frame, "{\"batch\":{\"events\":[" EXEC_JSON ",{}]}}");
}

Test(pbjson, worker_frame_stats_uint64_strings)
{
	Tapio__V1__Stats st = TAPIO__V1__STATS__INIT;
	Tapio__V1__WorkerFrame frame = TAPIO__V1__WORKER_FRAME__INIT;

	st.has_events_sent = 1;
	st.events_sent = 10;
	st.has_kernel_drops = 1;
	st.kernel_drops = 0;
	frame.body_case = TAPIO__V1__WORKER_FRAME__BODY_STATS;
	frame.stats = &st;
	assert_json(&frame, "{\"stats\":{\"eventsSent\":\"10\",\"kernelDrops\":\"0\"}}");
}

/* Each kind of token last before the closing brace, so an over-reservation would show. */
Test(pbjson, cap_exact_fit_for_every_token_kind)
{
	Tapio__Test__AllTypes m = TAPIO__TEST__ALL_TYPES__INIT;
	Tapio__Test__Inner in = TAPIO__TEST__INNER__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct exec_event e;

	m.has_f_int32 = 1;
	m.f_int32 = -5;
	check_cap_sweep(&m.base);
	m.has_f_uint64 = 1;
	m.f_uint64 = 7;
	check_cap_sweep(&m.base);
	m.has_f_double = 1;
	m.f_double = 0.5;
	check_cap_sweep(&m.base);
	m.f_double = NAN;
	check_cap_sweep(&m.base);
	m.has_f_bool = 1;
	check_cap_sweep(&m.base);
	m.f_string = "\x01";
	check_cap_sweep(&m.base);
	m.has_f_bytes = 1;
	m.f_bytes.len = 1;
	m.f_bytes.data = (uint8_t *)"a";
	check_cap_sweep(&m.base);
	m.has_f_enum = 1;
	m.f_enum = 99;
	check_cap_sweep(&m.base);
	m.f_enum = TAPIO__TEST__COLOR__COLOR_RED;
	check_cap_sweep(&m.base);
	in.label_text = "x";
	m.f_inner = &in;
	check_cap_sweep(&m.base);
	ts.nanos = 1000;
	m.f_time = &ts;
	check_cap_sweep(&m.base);
	ts.nanos = 0;
	check_cap_sweep(&ts.base);
	m.has_snake__case_x_ = 1;
	check_cap_sweep(&m.base);

	build_exec_event(&e);
	check_cap_sweep(&e.ev.base);
}
