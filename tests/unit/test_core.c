/*
 * test_core.c - errors, strict parsing, append buffer, atomic files, CSV.
 */
#include "test.h"

#include <sys/stat.h>

#include "gpn/csv.h"
#include "gpn/err.h"
#include "gpn/util.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static void test_err_table(void)
{
    ASSERT_STR_EQ(gpn_errname(GPN_EINVAL), "INVAL");
    ASSERT_STR_EQ(gpn_strerror(GPN_ENOTFOUND), "not found");
    ASSERT_EQ_INT(gpn_err_http_status(GPN_EFORMAT), 400);
    ASSERT_EQ_INT(gpn_err_http_status(GPN_ENOTFOUND), 404);
    ASSERT_EQ_INT(gpn_err_http_status(-9999), 500);
    struct gpn_err e = {0};
    ASSERT_EQ_INT(gpn_err_set(&e, GPN_ERANGE, "f: %d too big", 7), GPN_ERANGE);
    ASSERT_STR_EQ(e.msg, "f: 7 too big");
    gpn_err_prefix(&e, "file.csv:%d", 3);
    ASSERT_STR_EQ(e.msg, "file.csv:3: f: 7 too big");
    ASSERT_EQ_INT(e.code, GPN_ERANGE);
    ASSERT_EQ_INT(gpn_err_set(NULL, GPN_EIO, "ignored"), GPN_EIO);
}

static void test_parse_numbers(void)
{
    struct gpn_err e = {0};
    int64_t v;
    double d;
    ASSERT_OK(gpn_parse_i64(" 42 ", 0, 100, &v, "n", &e), &e);
    ASSERT_EQ_INT(v, 42);
    ASSERT_RC(gpn_parse_i64("42x", 0, 100, &v, "n", &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "not an integer");
    ASSERT_RC(gpn_parse_i64("101", 0, 100, &v, "n", &e), GPN_ERANGE);
    ASSERT_RC(gpn_parse_i64("", 0, 100, &v, "n", &e), GPN_EFORMAT);
    ASSERT_RC(gpn_parse_i64("99999999999999999999", 0, INT64_MAX, &v, "n", &e), GPN_ERANGE);
    ASSERT_OK(gpn_parse_double("3.5e2", 0, 1000, &d, "x", &e), &e);
    ASSERT_NEAR(d, 350.0, 0);
    ASSERT_RC(gpn_parse_double("nan", -1e9, 1e9, &d, "x", &e), GPN_EFORMAT);
    ASSERT_RC(gpn_parse_double("inf", -1e9, 1e9, &d, "x", &e), GPN_EFORMAT);
    ASSERT_RC(gpn_parse_double("1,5", -1e9, 1e9, &d, "x", &e), GPN_EFORMAT);
    double four[4];
    ASSERT_OK(gpn_parse_doubles("1,2.5,-3,4", four, 4, "bbox", &e), &e);
    ASSERT_NEAR(four[2], -3, 0);
    ASSERT_RC(gpn_parse_doubles("1,2,3", four, 4, "bbox", &e), GPN_EFORMAT);
    ASSERT_RC(gpn_parse_doubles("1,2,3,4,5", four, 4, "bbox", &e), GPN_EFORMAT);
}

static void test_buf(void)
{
    struct gpn_buf b = {0};
    for (int i = 0; i < 1000; i++) ASSERT_OK(gpn_buf_printf(&b, "%d,", i), (struct gpn_err *)NULL);
    ASSERT_EQ_INT(b.len, strlen(b.data));
    ASSERT_TRUE(!strncmp(b.data, "0,1,2,", 6));
    gpn_buf_reset(&b);
    gpn_buf_json_str(&b, "a\"b\\c\n\x01");
    ASSERT_STR_EQ(b.data, "a\\\"b\\\\c\\n\\u0001");
    gpn_buf_reset(&b);
    gpn_buf_xml_str(&b, "<a & 'b'>");
    ASSERT_STR_EQ(b.data, "&lt;a &amp; &apos;b&apos;&gt;");
    gpn_buf_free(&b);
    ASSERT_TRUE(b.data == NULL);
}

static void test_atomic_write(void)
{
    struct gpn_err e = {0};
    char path[1400], dir[700];
    snprintf(dir, sizeof dir, "%s/a/b/c", test_tmpdir());
    ASSERT_OK(gpn_mkdir_p(dir, &e), &e);
    ASSERT_TRUE(gpn_is_dir(dir));
    snprintf(path, sizeof path, "%s/out.txt", dir);
    ASSERT_OK(gpn_file_write_atomic(path, "hello", 5, &e), &e);
    char *data;
    size_t len;
    ASSERT_OK(gpn_file_read(path, &data, &len, &e), &e);
    ASSERT_EQ_INT(len, 5);
    ASSERT_STR_EQ(data, "hello");
    free(data);
    /* A failed write (target folder missing) leaves nothing behind. */
    char bad[1500];
    snprintf(bad, sizeof bad, "%s/missing/out.txt", dir);
    ASSERT_RC(gpn_file_write_atomic(bad, "x", 1, &e), GPN_EIO);
    ASSERT_FALSE(gpn_path_exists(bad));
    ASSERT_RC(gpn_file_read(bad, &data, &len, &e), GPN_ENOTFOUND);
    char top[700];
    snprintf(top, sizeof top, "%s/a", test_tmpdir());
    ASSERT_OK(gpn_rm_rf(top, &e), &e);
    ASSERT_FALSE(gpn_path_exists(top));
}

static void test_csv_basic(void)
{
    struct gpn_err e = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/a.csv", test_tmpdir());
    write_file(path, "\xEF\xBB\xBFlon,lat,name\r\n1.5,43.2,\"Fagus, sylvatica\"\r\n\r\n2,44,\"say \"\"hi\"\"\nthere\"\n3,45,x");
    struct gpn_csv *c;
    ASSERT_OK(gpn_csv_open(path, 0, &c, &e), &e);
    ASSERT_EQ_INT(gpn_csv_delim(c), ',');
    ASSERT_EQ_INT(gpn_csv_col(c, "lon"), 0);
    ASSERT_EQ_INT(gpn_csv_col(c, "NAME"), 2);
    ASSERT_EQ_INT(gpn_csv_col(c, "x"), -1);
    ASSERT_EQ_INT(gpn_csv_next(c, &e), 1);
    ASSERT_STR_EQ(gpn_csv_field(c, 2), "Fagus, sylvatica");
    ASSERT_EQ_INT(gpn_csv_line(c), 2);
    ASSERT_EQ_INT(gpn_csv_next(c, &e), 1);
    ASSERT_STR_EQ(gpn_csv_field(c, 2), "say \"hi\"\nthere");
    ASSERT_EQ_INT(gpn_csv_line(c), 4);
    ASSERT_EQ_INT(gpn_csv_next(c, &e), 1);
    ASSERT_EQ_INT(gpn_csv_line(c), 6);
    ASSERT_STR_EQ(gpn_csv_field(c, 2), "x");
    ASSERT_EQ_INT(gpn_csv_next(c, &e), 0);
    gpn_csv_close(c);
}

static void test_csv_errors(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_csv *c;
    snprintf(path, sizeof path, "%s/semi.csv", test_tmpdir());
    write_file(path, "a;b;c\n1;2;3\n4;5\n");
    ASSERT_OK(gpn_csv_open(path, 0, &c, &e), &e);
    ASSERT_EQ_INT(gpn_csv_delim(c), ';');
    ASSERT_EQ_INT(gpn_csv_next(c, &e), 1);
    ASSERT_RC(gpn_csv_next(c, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "semi.csv:3: expected 3 fields");
    int col;
    ASSERT_RC(gpn_csv_require(c, "speciesId", &col, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "missing column 'speciesId'");
    gpn_csv_close(c);

    snprintf(path, sizeof path, "%s/quote.csv", test_tmpdir());
    write_file(path, "a,b\n1,\"open\n");
    ASSERT_OK(gpn_csv_open(path, 0, &c, &e), &e);
    ASSERT_RC(gpn_csv_next(c, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "quote.csv:2: unterminated quoted field");
    gpn_csv_close(c);

    snprintf(path, sizeof path, "%s/empty.csv", test_tmpdir());
    write_file(path, "");
    ASSERT_RC(gpn_csv_open(path, 0, &c, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "empty file");
    ASSERT_RC(gpn_csv_open("/nonexistent/x.csv", 0, &c, &e), GPN_ENOTFOUND);
}

static void test_csv_real_glc23(void)
{
    struct gpn_err e = {0};
    struct gpn_csv *c;
    ASSERT_OK(gpn_csv_open(test_shared_path("data/glc23_sample/Presence_Absences_occurrences/Presences_Absences_train_sample.csv"),
                           0, &c, &e), &e);
    ASSERT_EQ_INT(gpn_csv_delim(c), ';');
    int col;
    ASSERT_OK(gpn_csv_require(c, "speciesId", &col, &e), &e);
    int rows = 0, rc;
    while ((rc = gpn_csv_next(c, &e)) == 1) rows++;
    ASSERT_OK(rc, &e);
    ASSERT_EQ_INT(rows, 100);
    gpn_csv_close(c);
}

int main(void)
{
    RUN(test_err_table);
    RUN(test_parse_numbers);
    RUN(test_buf);
    RUN(test_atomic_write);
    RUN(test_csv_basic);
    RUN(test_csv_errors);
    RUN(test_csv_real_glc23);
    return test_summary();
}
