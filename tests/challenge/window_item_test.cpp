// The ticket order of a layer window (window_item, layer_args.hpp), checked on the CPU: every item once,
// and every item after all the items it waits for, which is what keeps the window free of deadlock.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "challenge/cuda/layer_args.hpp"

namespace spdnn::cuda {

TEST(WindowItems, EveryItemOnceAndAfterWhatItWaitsFor) {
  // {slices, wave, layers, tiles}: waves of one, a short last wave, a wave wider than the slices.
  for (const auto [slices, wave, layers, tiles] :
       {std::tuple{5, 1, 3, 4}, std::tuple{7, 3, 4, 2}, std::tuple{2, 5, 2, 3}, std::tuple{1, 1, 1, 1}, std::tuple{9, 2, 6, 5}}) {
    SCOPED_TRACE(testing::Message() << slices << " slices, wave " << wave << ", " << layers << " layers, " << tiles << " tiles");
    const unsigned long long items = window_items(slices, wave, layers, tiles);
    EXPECT_EQ(items, static_cast<unsigned long long>((slices + wave - 1) / wave * wave) * layers * tiles);
    std::map<std::tuple<int, int, int>, unsigned long long> ticket;  // (slice, layer, tile) -> ticket
    auto at = [&](int s, int j, int tile) { return ticket.at(std::tuple{s, j, tile}); };
    unsigned long long padded = 0;
    for (unsigned long long t = 0; t < items; ++t) {
      const WindowItem w = window_item(t, wave, layers, tiles);
      ASSERT_GE(w.layer, 0);
      ASSERT_LT(w.layer, layers);
      ASSERT_GE(w.tile, 0);
      ASSERT_LT(w.tile, tiles);
      ASSERT_LT(w.slice, (slices + wave - 1) / wave * wave);
      if (w.slice >= slices) {
        ++padded;
        continue;
      }
      EXPECT_TRUE(ticket.emplace(std::tuple{w.slice, w.layer, w.tile}, t).second) << "item taken twice at ticket " << t;
    }
    EXPECT_EQ(ticket.size(), static_cast<size_t>(slices) * layers * tiles);
    EXPECT_EQ(padded, items - ticket.size());
    for (int s = 0; s < slices; ++s)
      for (int j = 1; j < layers; ++j)
        for (int a = 0; a < tiles; ++a)
          for (int b = 0; b < tiles; ++b)
            EXPECT_LT(at(s, j - 1, b), at(s, j, a)) << "slice " << s << " layer " << j;
    // Within a wave, the next slice's layer comes before this slice's next layer: slices overlap.
    for (int s = 0; s + 1 < slices; ++s)
      if ((s + 1) % wave != 0 && layers > 1) EXPECT_LT(at(s + 1, 0, 0), at(s, 1, 0));
  }
}

}  // namespace spdnn::cuda
