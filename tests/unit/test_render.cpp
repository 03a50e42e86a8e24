// Columns, the JSON document and the summary line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mergemem/format.hpp"
#include "mergemem/render.hpp"

using namespace mergemem;

TEST(Format, HumanBytes)
{
	EXPECT_EQ(human_bytes(0), "0 B");
	EXPECT_EQ(human_bytes(1023), "1023 B");
	EXPECT_EQ(human_bytes(1024), "1.0 KiB");
	EXPECT_EQ(human_bytes(640ull << 20), "640 MiB");
	EXPECT_EQ(human_bytes(uint64_t(1.9 * (1ull << 30))), "1.9 GiB");
	EXPECT_EQ(hex(255), "0xff");
}

TEST(Columns, ParseAndList)
{
	auto c = parse_columns("pid,DUP,savings_pages");
	ASSERT_TRUE(c);
	ASSERT_EQ(c->size(), 3u);
	EXPECT_EQ((*c)[1].name, "duplicate_pages");
	auto plus = parse_columns("+uid");
	ASSERT_TRUE(plus);
	EXPECT_EQ(plus->size(), default_process_columns().size() + 1);
	auto bad = parse_columns("pid,nope");
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().context.find("'nope'"), std::string::npos);
	for (auto& col : process_columns())
		EXPECT_NE(list_columns().find(std::string(col.name)), std::string::npos);
}

TEST(Render, JsonSchemaAndSummary)
{
	Report r;
	r.processes = 12;
	r.pfn_visible = false;
	r.summary.anon_pages = (uint64_t(19) << 30) / 10 / 4096;
	r.summary.duplicate_pages = (640ull << 20) / 4096;
	r.summary.savings_pages = (410ull << 20) / 4096;
	r.per_process.push_back(ProcessRow{42, "a\x01" "b", 0, "root", {}});
	RenderOptions o;
	o.columns = default_process_columns();
	auto j = nlohmann::json::parse(render_json(r, o));
	EXPECT_EQ(j["schema"], "mergemem.memdup/1");
	EXPECT_EQ(j["page_size"], 4096);
	EXPECT_EQ(j["pfn_visible"], false);
	EXPECT_EQ(j["summary"]["pfn_visible"], false);
	EXPECT_EQ(j["estimate"], "content-only");
	for (auto k : {"processes", "processes_failed", "present_pages", "anon_pages", "anon_frames", "duplicate_pages",
	               "savings_pages", "zero_pages"})
		EXPECT_TRUE(j["summary"].contains(k)) << k;
	EXPECT_EQ(j["processes"][0]["pid"], 42);
	EXPECT_EQ(summary_line(r).rfind("12 processes, 1.9 GiB anonymous, 640 MiB duplicate, 410 MiB could be freed by merging", 0), 0u);
	EXPECT_NE(summary_line(r).find("estimate"), std::string::npos);
	// Control characters never reach the terminal.
	EXPECT_NE(render_table(r, o).find("a\\x01b"), std::string::npos);
}
