/* Gather-Trade-Build kernels for CPU tensors, one environment after another.
 *
 * The rules are specified by the torch functions they stand for, which stay the
 * reference (and the path on other devices): gtb_local_views computes
 * observations.local_views, gtb_submit_orders computes auction.submit_orders. Each reads
 * and writes contiguous buffers handed over by native.py and performs the same
 * float32 additions in the same order, so results are bit-identical (tested).
 */
#include <math.h>
#include <stdint.h>

#define EMPTY_ORDER INT64_MAX
#define RANK_UNIT (INT64_C(1) << 32) /* order key = rank * RANK_UNIT + sequence number */
#define LEDGER 7                       /* wood, stone, coin, escrowed ..., earned */
#define COIN 2
#define EARNED 6
#define BUY 0
#define MAX_VIEW_CELLS 4096 /* views up to radius 31 */

/* Views of every worker (observations.local_views).
 *
 * tiles [batch, cells] tile codes (wood + 2 stone + 4 water + 8 (owner + 1)) of maps
 * padded_width tiles wide; pos [batch, workers] flat tiles; the view is the
 * (2 radius + 1)^2 tiles around a worker, row-major; cell_of_offset [2 cells - 1] the
 * view cell of a worker d tiles away (entry d + cells - 1, -1 outside the view and at
 * the centre); out: row (b, i) starts at out + (b workers + i) row_stride and receives
 * 6 channels of (2 radius + 1)^2 floats.
 */
void gtb_local_views(const int16_t *tiles, int64_t batch, int64_t cells, const int64_t *pos,
                     int64_t workers, int64_t radius, int64_t padded_width,
                     const int64_t *cell_of_offset, float *out, int64_t row_stride) {
    const int64_t side = 2 * radius + 1, view_cells = side * side;
    for (int64_t b = 0; b < batch; ++b) {
        const int16_t *map = tiles + b * cells;
        const int64_t *where = pos + b * workers;
        for (int64_t i = 0; i < workers; ++i) {
            float *wood = out + (b * workers + i) * row_stride;
            float *stone = wood + view_cells, *water = stone + view_cells;
            float *own = water + view_cells, *other = own + view_cells;
            float *agents = other + view_cells;
            const int16_t me = (int16_t)(i + 1);
            int16_t code[MAX_VIEW_CELLS], owner[MAX_VIEW_CELLS];
            for (int64_t y = 0; y < side; ++y) {
                const int16_t *row = map + where[i] + (y - radius) * padded_width - radius;
                for (int64_t x = 0; x < side; ++x) code[y * side + x] = row[x];
            }
            for (int64_t c = 0; c < view_cells; ++c) owner[c] = code[c] >> 3;
            /* owner 0: no house, k: worker k - 1's house */
            for (int64_t c = 0; c < view_cells; ++c) wood[c] = (float)(code[c] & 1);
            for (int64_t c = 0; c < view_cells; ++c) stone[c] = (float)((code[c] >> 1) & 1);
            for (int64_t c = 0; c < view_cells; ++c) water[c] = (float)((code[c] >> 2) & 1);
            for (int64_t c = 0; c < view_cells; ++c) own[c] = (float)(owner[c] == me);
            for (int64_t c = 0; c < view_cells; ++c)
                other[c] = (float)((owner[c] > 0) & (owner[c] != me));
            for (int64_t c = 0; c < view_cells; ++c) agents[c] = 0.0f;
            for (int64_t j = 0; j < workers; ++j) {
                const int64_t cell = cell_of_offset[where[j] - where[i] + cells - 1];
                if (cell >= 0) agents[cell] += 1.0f;
            }
        }
    }
}

/* One step's orders, turn after turn (auction.submit_orders).
 *
 * book [batch, 4 workers slots] keys by (resource, side, worker, slot), changed in
 * place; ledger [batch, workers, 7] changed in place; is_order, resource, side, price
 * [batch, workers] by worker; turn_order [batch, workers] the worker acting k-th; step
 * [batch]; outputs by worker: traded, placed (0/1) and trade_price (NaN: no trade).
 */
void gtb_submit_orders(int64_t batch, int64_t workers, int64_t slots, int64_t *book,
                       float *ledger, const uint8_t *is_order, const int64_t *resource,
                       const int64_t *side, const int64_t *price, const int64_t *turn_order,
                       const int64_t *step, uint8_t *traded, uint8_t *placed,
                       float *trade_price) {
    const int64_t block = workers * slots; /* slots of one side of one resource */
    for (int64_t b = 0; b < batch; ++b) {
        int64_t *keys = book + b * 4 * block;
        float *rows = ledger + b * workers * LEDGER;
        for (int64_t k = 0; k < workers; ++k) {
            const int64_t a = turn_order[b * workers + k], at = b * workers + a;
            traded[at] = 0;
            placed[at] = 0;
            trade_price[at] = NAN;
            if (!is_order[at]) continue;
            const int64_t res = resource[at], sd = side[at], pr = price[at];
            const int buy = sd == BUY;
            int64_t *own_side = keys + (res * 2 + sd) * block + a * slots;
            int64_t *other_side = keys + (res * 2 + 1 - sd) * block;
            int64_t slot = -1;
            for (int64_t m = 0; m < slots; ++m) {
                if (own_side[m] == EMPTY_ORDER) { slot = m; break; }
            }
            float *mine = rows + a * LEDGER;
            const float need = buy ? (float)pr : 1.0f;
            if (slot < 0 || !(mine[buy ? COIN : res] >= need)) continue;
            placed[at] = 1;
            /* the best resting order of the other side, never one's own */
            int64_t best_key = EMPTY_ORDER, best = -1;
            for (int64_t s = 0; s < block; ++s) {
                if (s / slots == a) continue;
                if (other_side[s] < best_key) { best_key = other_side[s]; best = s; }
            }
            const int64_t rank = buy ? -pr : pr; /* the order's rank on its own side */
            if (best_key < (1 - rank) * RANK_UNIT) { /* it crosses: trade at its price */
                const int64_t resting_rank = (best_key - (best_key & (RANK_UNIT - 1))) / RANK_UNIT;
                const float q = buy ? (float)resting_rank : -(float)resting_rank;
                float *theirs = rows + (best / slots) * LEDGER;
                if (buy) {
                    mine[res] += 1.0f;
                    theirs[3 + res] -= 1.0f;
                    mine[COIN] -= q;
                    mine[EARNED] -= q;
                    theirs[COIN] += q;
                    theirs[EARNED] += q;
                } else {
                    mine[res] -= 1.0f;
                    theirs[res] += 1.0f;
                    mine[COIN] += q;
                    mine[EARNED] += q;
                    theirs[3 + COIN] -= q;
                    theirs[EARNED] -= q;
                }
                other_side[best] = EMPTY_ORDER;
                traded[at] = 1;
                trade_price[at] = q;
            } else { /* it rests, escrowed */
                if (buy) {
                    mine[COIN] -= (float)pr;
                    mine[3 + COIN] += (float)pr;
                } else {
                    mine[res] -= 1.0f;
                    mine[3 + res] += 1.0f;
                }
                own_side[slot] = rank * RANK_UNIT + step[b] * workers + k;
            }
        }
    }
}

/* Action masks of the workers (masks.worker_masks), 1 = valid, in the action order
 * no-op, build, (buy at 0..max_price, sell at 0..max_price) for wood then stone, four
 * moves (offsets [4] flat steps).
 *
 * owner [batch, cells] house owner (-1: none); water, source [batch, cells] 0/1;
 * inventory [batch, workers, 3] available wood, stone, coin; book as in
 * gtb_submit_orders; out [batch, workers, 2 + 4 (max_price + 1) + 4].
 */
void gtb_worker_masks(int64_t batch, int64_t cells, int64_t workers, int64_t slots,
                      int64_t max_price, const int64_t *pos, const int16_t *owner,
                      const uint8_t *water, const uint8_t *source, const float *inventory,
                      const int64_t *book, const int64_t *offsets, uint8_t *out) {
    const int64_t levels = max_price + 1, actions = 2 + 4 * levels + 4;
    const int64_t block = workers * slots;
    for (int64_t b = 0; b < batch; ++b) {
        const int64_t *where = pos + b * workers, *keys = book + b * 4 * block;
        const int16_t *owners = owner + b * cells;
        for (int64_t i = 0; i < workers; ++i) {
            uint8_t *mask = out + (b * workers + i) * actions;
            const float *inv = inventory + (b * workers + i) * 3;
            const int64_t here = where[i];
            mask[0] = 1;
            mask[1] = inv[0] >= 1.0f && inv[1] >= 1.0f && owners[here] < 0
                      && !source[b * cells + here];
            for (int64_t r = 0; r < 2; ++r) {
                for (int64_t sd = 0; sd < 2; ++sd) {
                    const int64_t *mine = keys + (r * 2 + sd) * block + i * slots;
                    int room = 0;
                    for (int64_t m = 0; m < slots; ++m) room |= mine[m] == EMPTY_ORDER;
                    uint8_t *prices = mask + 2 + (r * 2 + sd) * levels;
                    for (int64_t p = 0; p < levels; ++p)
                        prices[p] = room && (sd == BUY ? inv[COIN] >= (float)p : inv[r] >= 1.0f);
                }
            }
            for (int64_t d = 0; d < 4; ++d) {
                const int64_t target = here + offsets[d];
                int free = !water[b * cells + target]
                           && (owners[target] < 0 || owners[target] == (int16_t)i);
                for (int64_t j = 0; j < workers; ++j) free &= where[j] != target;
                mask[2 + 4 * levels + d] = (uint8_t)free;
            }
        }
    }
}
