// CSR construction: ordering, duplicates, range checks, transpose.
#include <gtest/gtest.h>

#include "spdnn/csr.hpp"
#include "spdnn/error.hpp"

namespace spdnn {

TEST(Csr, BuildsFromUnorderedTriplets) {
  CsrMatrix m = csr_from_triplets(3, 4, {{2, 3, 5.f}, {0, 1, 1.f}, {2, 0, 4.f}, {0, 0, 2.f}}, "test");
  EXPECT_EQ(m.row_ptr, (std::vector<int64_t>{0, 2, 2, 4}));
  EXPECT_EQ(m.col_idx, (std::vector<int32_t>{0, 1, 0, 3}));
  EXPECT_EQ(m.values, (std::vector<float>{2.f, 1.f, 4.f, 5.f}));
  EXPECT_NO_THROW(m.validate("test"));
}

TEST(Csr, RejectsDuplicatesAndOutOfRange) {
  EXPECT_THROW(csr_from_triplets(2, 2, {{0, 1, 1.f}, {0, 1, 2.f}}, "dup"), Error);
  try {
    csr_from_triplets(2, 2, {{0, 2, 1.f}}, "src");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::range);
    EXPECT_NE(std::string(e.what()).find("src"), std::string::npos);
  }
}

TEST(Csr, TransposeTwiceIsIdentity) {
  CsrMatrix m = csr_from_triplets(3, 5, {{0, 4, 1.f}, {1, 0, 2.f}, {2, 4, 3.f}, {2, 1, 4.f}}, "t");
  CsrMatrix t = transpose(m);
  EXPECT_EQ(t.rows, 5);
  EXPECT_EQ(t.row_ptr, (std::vector<int64_t>{0, 1, 2, 2, 2, 4}));
  EXPECT_EQ(t.col_idx, (std::vector<int32_t>{1, 2, 0, 2}));
  EXPECT_EQ(transpose(t), m);
}

TEST(Csr, ValidateCatchesBrokenStructure) {
  CsrMatrix m = csr_from_triplets(2, 2, {{0, 0, 1.f}, {0, 1, 1.f}}, "v");
  m.col_idx = {1, 0};
  EXPECT_THROW(m.validate("v"), Error);
}

}  // namespace spdnn
