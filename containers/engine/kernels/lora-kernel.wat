;; The batched LoRA delta (BGMV, lora.ts addLoraDelta) with B transposed, in WebAssembly SIMD.
;; kernels.wat's lora_rows computes out[b] += B·mid as one dot product of length r per output,
;; which at the ranks adapters use (8, 16) is mostly call and horizontal-sum overhead. With Bᵀ
;; (r, d) the same product is r scaled rows of Bᵀ added into out[b], four at a time, each a
;; straight f32x4 loop over d. Built by lora-kernel-build.ts (wabt) into lora-kernel.wasm,
;; which is committed and checked against this file by lora-kernel.test.ts. It runs on the
;; engine's shared kernel heap (kernels/index.ts instantiates it on the same memory).
;; The matrices are in the kernel's layout (lora-kernel.ts packA / packBt write it), each read as
;; one sequential stream: with 64 rows of 64 distinct adapters, the rows' matrices come from
;; L3 or memory, and eight (A) or four (Bᵀ) rows read side by side 384 bytes apart were eight
;; or four short streams the prefetcher hardly follows. Same values, same order of arithmetic:
;;   A (r, n): ranks in groups of 8 while they last, then of 4 (only when n % 4 = 0), each group
;;     [n/4][g][4] (four floats of each of its g ranks in turn); the ranks left over, plain rows.
;;   Bᵀ (r, d): ranks in groups of 4, each [d4/4][4][4] then [d - d4][4] (d4 = d rounded down to
;;     a multiple of 4); the ranks left over, plain rows of d.
;; A group starts where its first rank's row would (rank k at k·n, k·d floats): the groups are
;; only a reordering within those rows.
;; A resident adapter's matrices may be bf16 (kernels/adapter-slots.ts, the default there): the
;; same layout at 2 bytes a value, each widened exactly to the f32 it stands for (shuffled in
;; beside zeros: two ranks' four values per 16-byte load), so the arithmetic is the f32 path's.
;; With 64 rows of 64 distinct adapters a step's delta is bound by reading the rows' matrices
;; from L3 or memory; half the bytes is most of its cost.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Σ a[j]·b[j] over n floats (f32x4 lanes, then a scalar tail)
  (func $dot (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $acc v128) (local $s f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (local.set $acc (f32x4.relaxed_madd (v128.load (i32.add (local.get $a) (local.get $j))) (v128.load (i32.add (local.get $b) (local.get $j))) (local.get $acc)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (i32.add (local.get $a) (local.get $j))) (f32.load (i32.add (local.get $b) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
    (local.get $s))

;; dst[0..8) = scale · (Σ a_i[j]·b[j]) for the eight ranks of a packed group at p ([n/4][8][4]):
  ;; eight independent accumulators share each load of b, each summing its lanes in j order
  (func $dot8 (param $p i32) (param $b i32) (param $n i32) (param $scale f32) (param $dst i32)
    (local $j i32) (local $nb i32) (local $vb v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $vb (v128.load (i32.add (local.get $b) (local.get $j))))
        (local.set $c0 (f32x4.relaxed_madd (v128.load offset=0 (local.get $p)) (local.get $vb) (local.get $c0)))
        (local.set $c1 (f32x4.relaxed_madd (v128.load offset=16 (local.get $p)) (local.get $vb) (local.get $c1)))
        (local.set $c2 (f32x4.relaxed_madd (v128.load offset=32 (local.get $p)) (local.get $vb) (local.get $c2)))
        (local.set $c3 (f32x4.relaxed_madd (v128.load offset=48 (local.get $p)) (local.get $vb) (local.get $c3)))
        (local.set $c4 (f32x4.relaxed_madd (v128.load offset=64 (local.get $p)) (local.get $vb) (local.get $c4)))
        (local.set $c5 (f32x4.relaxed_madd (v128.load offset=80 (local.get $p)) (local.get $vb) (local.get $c5)))
        (local.set $c6 (f32x4.relaxed_madd (v128.load offset=96 (local.get $p)) (local.get $vb) (local.get $c6)))
        (local.set $c7 (f32x4.relaxed_madd (v128.load offset=112 (local.get $p)) (local.get $vb) (local.get $c7)))
        (local.set $p (i32.add (local.get $p) (i32.const 128)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (call $hsum4 (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3) (local.get $scale) (local.get $dst))
    (call $hsum4 (local.get $c4) (local.get $c5) (local.get $c6) (local.get $c7) (local.get $scale) (i32.add (local.get $dst) (i32.const 16))))

  ;; dst[0..4) likewise for the four ranks of a packed group at p ([n/4][4][4])
  (func $dot4 (param $p i32) (param $b i32) (param $n i32) (param $scale f32) (param $dst i32)
    (local $j i32) (local $nb i32) (local $vb v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $vb (v128.load (i32.add (local.get $b) (local.get $j))))
        (local.set $c0 (f32x4.relaxed_madd (v128.load offset=0 (local.get $p)) (local.get $vb) (local.get $c0)))
        (local.set $c1 (f32x4.relaxed_madd (v128.load offset=16 (local.get $p)) (local.get $vb) (local.get $c1)))
        (local.set $c2 (f32x4.relaxed_madd (v128.load offset=32 (local.get $p)) (local.get $vb) (local.get $c2)))
        (local.set $c3 (f32x4.relaxed_madd (v128.load offset=48 (local.get $p)) (local.get $vb) (local.get $c3)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (call $hsum4 (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3) (local.get $scale) (local.get $dst)))

    ;; dst[0..4) = scale · (the lane sums of c0..c3), by $dot4's shuffles
  (func $hsum4 (param $c0 v128) (param $c1 v128) (param $c2 v128) (param $c3 v128) (param $scale f32) (param $dst i32)
    (local $u0 v128) (local $u1 v128)
    (local.set $u0 (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $c0) (local.get $c1))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $c0) (local.get $c1))))
    (local.set $u1 (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $c2) (local.get $c3))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $c2) (local.get $c3))))
    (v128.store (local.get $dst) (f32x4.mul (f32x4.splat (local.get $scale)) (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u0) (local.get $u1))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u0) (local.get $u1))))))

  ;; y[j] += g0·a0[j] + g1·a1[j] + g2·a2[j] + g3·a3[j] over n floats, the four rows a0..a3 a packed
  ;; group at p ([n4/4][4][4] then [n - n4][4])
  (func $axpy4 (param $y i32) (param $p i32) (param $g0 f32) (param $g1 f32) (param $g2 f32) (param $g3 f32) (param $n i32)
    (local $j i32) (local $n4 i32) (local $nb i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $v0 (f32x4.splat (local.get $g0)))
    (local.set $v1 (f32x4.splat (local.get $g1)))
    (local.set $v2 (f32x4.splat (local.get $g2)))
    (local.set $v3 (f32x4.splat (local.get $g3)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (v128.store (i32.add (local.get $y) (local.get $j))
          (f32x4.relaxed_madd (local.get $v0) (v128.load offset=0 (local.get $p))
            (f32x4.relaxed_madd (local.get $v1) (v128.load offset=16 (local.get $p))
              (f32x4.relaxed_madd (local.get $v2) (v128.load offset=32 (local.get $p))
                (f32x4.relaxed_madd (local.get $v3) (v128.load offset=48 (local.get $p)) (v128.load (i32.add (local.get $y) (local.get $j))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (f32.store (i32.add (local.get $y) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $y) (local.get $j)))
            (f32.add
              (f32.add (f32.mul (local.get $g0) (f32.load offset=0 (local.get $p))) (f32.mul (local.get $g1) (f32.load offset=4 (local.get $p))))
              (f32.add (f32.mul (local.get $g2) (f32.load offset=8 (local.get $p))) (f32.mul (local.get $g3) (f32.load offset=12 (local.get $p)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
  )

  ;; y[j] += g·a[j] over n floats
  (func $axpy1 (param $y i32) (param $a i32) (param $g f32) (param $n i32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $v v128)
    (local.set $v (f32x4.splat (local.get $g)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (v128.store (i32.add (local.get $y) (local.get $j))
          (f32x4.relaxed_madd (local.get $v) (v128.load (i32.add (local.get $a) (local.get $j))) (v128.load (i32.add (local.get $y) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (f32.store (i32.add (local.get $y) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $y) (local.get $j))) (f32.mul (local.get $g) (f32.load (i32.add (local.get $a) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
  )

  ;; ── the same helpers on bf16 matrices: each element the top 16 bits of an f32, widened exactly
  ;; (load16x4_u, shl 16) to the f32 the f32 helpers would read, so the arithmetic and its order
  ;; are theirs: an adapter rounded to bf16 gives here the bits its rounded f32 copy gives above ──

  ;; Σ a[j]·b[j] over n elements, a bf16 (a plain row), b f32
  (func $dot_h (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $acc v128) (local $s f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (local.set $acc (f32x4.relaxed_madd (i32x4.shl (v128.load16x4_u (i32.add (local.get $a) (i32.shr_u (local.get $j) (i32.const 1)))) (i32.const 16)) (v128.load (i32.add (local.get $b) (local.get $j))) (local.get $acc)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.reinterpret_i32 (i32.shl (i32.load16_u (i32.add (local.get $a) (i32.shr_u (local.get $j) (i32.const 1)))) (i32.const 16))) (f32.load (i32.add (local.get $b) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
    (local.get $s))

  ;; $dot8 on a bf16 group ([n/4][8][4], 64 bytes per step of j): each 16-byte load holds two
  ;; ranks' four elements, widened by interleaving with zeros (one shuffle each, off the FMA ports)
  (func $dot8_h (param $p i32) (param $b i32) (param $n i32) (param $scale f32) (param $dst i32)
    (local $j i32) (local $nb i32) (local $vb v128) (local $z v128) (local $h0 v128) (local $h1 v128) (local $h2 v128) (local $h3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c4 v128) (local $c5 v128) (local $c6 v128) (local $c7 v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $vb (v128.load (i32.add (local.get $b) (local.get $j))))
        (local.set $h0 (v128.load offset=0 (local.get $p)))
        (local.set $h1 (v128.load offset=16 (local.get $p)))
        (local.set $h2 (v128.load offset=32 (local.get $p)))
        (local.set $h3 (v128.load offset=48 (local.get $p)))
        (local.set $c0 (f32x4.relaxed_madd (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.get $h0)) (local.get $vb) (local.get $c0)))
        (local.set $c1 (f32x4.relaxed_madd (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h0)) (local.get $vb) (local.get $c1)))
        (local.set $c2 (f32x4.relaxed_madd (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.get $h1)) (local.get $vb) (local.get $c2)))
        (local.set $c3 (f32x4.relaxed_madd (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h1)) (local.get $vb) (local.get $c3)))
        (local.set $c4 (f32x4.relaxed_madd (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.get $h2)) (local.get $vb) (local.get $c4)))
        (local.set $c5 (f32x4.relaxed_madd (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h2)) (local.get $vb) (local.get $c5)))
        (local.set $c6 (f32x4.relaxed_madd (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.get $h3)) (local.get $vb) (local.get $c6)))
        (local.set $c7 (f32x4.relaxed_madd (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h3)) (local.get $vb) (local.get $c7)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (call $hsum4 (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3) (local.get $scale) (local.get $dst))
    (call $hsum4 (local.get $c4) (local.get $c5) (local.get $c6) (local.get $c7) (local.get $scale) (i32.add (local.get $dst) (i32.const 16))))

  ;; $dot4 on a bf16 group ([n/4][4][4], 32 bytes per step of j)
  (func $dot4_h (param $p i32) (param $b i32) (param $n i32) (param $scale f32) (param $dst i32)
    (local $j i32) (local $nb i32) (local $vb v128) (local $z v128) (local $h0 v128) (local $h1 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $vb (v128.load (i32.add (local.get $b) (local.get $j))))
        (local.set $h0 (v128.load offset=0 (local.get $p)))
        (local.set $h1 (v128.load offset=16 (local.get $p)))
        (local.set $c0 (f32x4.relaxed_madd (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.get $h0)) (local.get $vb) (local.get $c0)))
        (local.set $c1 (f32x4.relaxed_madd (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h0)) (local.get $vb) (local.get $c1)))
        (local.set $c2 (f32x4.relaxed_madd (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.get $h1)) (local.get $vb) (local.get $c2)))
        (local.set $c3 (f32x4.relaxed_madd (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h1)) (local.get $vb) (local.get $c3)))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (call $hsum4 (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3) (local.get $scale) (local.get $dst)))

  ;; $axpy4 on a bf16 group ([n4/4][4][4] then [n - n4][4]); y f32
  (func $axpy4_h (param $y i32) (param $p i32) (param $g0 f32) (param $g1 f32) (param $g2 f32) (param $g3 f32) (param $n i32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $z v128) (local $h0 v128) (local $h1 v128)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $v0 (f32x4.splat (local.get $g0)))
    (local.set $v1 (f32x4.splat (local.get $g1)))
    (local.set $v2 (f32x4.splat (local.get $g2)))
    (local.set $v3 (f32x4.splat (local.get $g3)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (v128.store (i32.add (local.get $y) (local.get $j))
          (f32x4.relaxed_madd (local.get $v0) (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.tee $h0 (v128.load offset=0 (local.get $p))))
            (f32x4.relaxed_madd (local.get $v1) (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h0))
              (f32x4.relaxed_madd (local.get $v2) (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $z) (local.tee $h1 (v128.load offset=16 (local.get $p))))
                (f32x4.relaxed_madd (local.get $v3) (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $z) (local.get $h1)) (v128.load (i32.add (local.get $y) (local.get $j))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (f32.store (i32.add (local.get $y) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $y) (local.get $j)))
            (f32.add
              (f32.add (f32.mul (local.get $g0) (f32.reinterpret_i32 (i32.shl (i32.load16_u offset=0 (local.get $p)) (i32.const 16)))) (f32.mul (local.get $g1) (f32.reinterpret_i32 (i32.shl (i32.load16_u offset=2 (local.get $p)) (i32.const 16)))))
              (f32.add (f32.mul (local.get $g2) (f32.reinterpret_i32 (i32.shl (i32.load16_u offset=4 (local.get $p)) (i32.const 16)))) (f32.mul (local.get $g3) (f32.reinterpret_i32 (i32.shl (i32.load16_u offset=6 (local.get $p)) (i32.const 16))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
  )

  ;; y[j] += g·a[j] over n elements, a bf16, y f32
  (func $axpy1_h (param $y i32) (param $a i32) (param $g f32) (param $n i32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $v v128)
    (local.set $v (f32x4.splat (local.get $g)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (v128.store (i32.add (local.get $y) (local.get $j))
          (f32x4.relaxed_madd (local.get $v) (i32x4.shl (v128.load16x4_u (i32.add (local.get $a) (i32.shr_u (local.get $j) (i32.const 1)))) (i32.const 16)) (v128.load (i32.add (local.get $y) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (f32.store (i32.add (local.get $y) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $y) (local.get $j))) (f32.mul (local.get $g) (f32.reinterpret_i32 (i32.shl (i32.load16_u (i32.add (local.get $a) (i32.shr_u (local.get $j) (i32.const 1)))) (i32.const 16))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
  )

  ;; one row's delta, out[b] += Bᵀᵀ·(scale · A·x[b]), A (r, n) and Bᵀ (r, d) f32 in the kernel's
  ;; layout at pA, pBt; $mid: r floats of scratch
  (func $delta (param $ob i32) (param $xb i32) (param $pA i32) (param $pBt i32) (param $r i32) (param $scale f32) (param $n i32) (param $d i32) (param $mid i32)
    (local $k i32) (local $nb i32) (local $db i32) (local $m i32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $db (i32.shl (local.get $d) (i32.const 2)))
    ;; mid = scale · A·x[b]: eight rows of A per pass when n allows it, then four, then the rest one by one
    (if (i32.eqz (i32.and (local.get $n) (i32.const 3)))
      (then
        (block $m8_done
          (loop $m8
            (br_if $m8_done (i32.gt_u (i32.add (local.get $k) (i32.const 8)) (local.get $r)))
            (call $dot8 (i32.add (local.get $pA) (i32.mul (local.get $k) (local.get $nb))) (local.get $xb) (local.get $n)
              (local.get $scale) (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 8)))
            (br $m8)))
        (block $m4_done
          (loop $m4
            (br_if $m4_done (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $r)))
            (call $dot4 (i32.add (local.get $pA) (i32.mul (local.get $k) (local.get $nb))) (local.get $xb) (local.get $n)
              (local.get $scale) (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $m4)))))
    (block $k_done
      (loop $kl
        (br_if $k_done (i32.ge_u (local.get $k) (local.get $r)))
        (f32.store (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2)))
          (f32.mul (call $dot (i32.add (local.get $pA) (i32.mul (local.get $k) (local.get $nb))) (local.get $xb) (local.get $n)) (local.get $scale)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
    ;; out[b] += Σ_k mid[k]·Bᵀ[k], four rows of Bᵀ per pass over out[b], then the rest one by one
    (local.set $k (i32.const 0))
    (block $k4_done
      (loop $k4
        (br_if $k4_done (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $r)))
        (local.set $m (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2))))
        (call $axpy4 (local.get $ob) (i32.add (local.get $pBt) (i32.mul (local.get $k) (local.get $db)))
          (f32.load offset=0 (local.get $m)) (f32.load offset=4 (local.get $m)) (f32.load offset=8 (local.get $m)) (f32.load offset=12 (local.get $m)) (local.get $d))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $k4)))
    (block $k1_done
      (loop $k1
        (br_if $k1_done (i32.ge_u (local.get $k) (local.get $r)))
        (call $axpy1 (local.get $ob) (i32.add (local.get $pBt) (i32.mul (local.get $k) (local.get $db)))
          (f32.load (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2)))) (local.get $d))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $k1))))

  ;; $delta on bf16 matrices: the same passes, the matrices' strides halved
  (func $delta_h (param $ob i32) (param $xb i32) (param $pA i32) (param $pBt i32) (param $r i32) (param $scale f32) (param $n i32) (param $d i32) (param $mid i32)
    (local $k i32) (local $nh i32) (local $dh i32) (local $m i32)
    (local.set $nh (i32.shl (local.get $n) (i32.const 1)))
    (local.set $dh (i32.shl (local.get $d) (i32.const 1)))
    (if (i32.eqz (i32.and (local.get $n) (i32.const 3)))
      (then
        (block $m8_done
          (loop $m8
            (br_if $m8_done (i32.gt_u (i32.add (local.get $k) (i32.const 8)) (local.get $r)))
            (call $dot8_h (i32.add (local.get $pA) (i32.mul (local.get $k) (local.get $nh))) (local.get $xb) (local.get $n)
              (local.get $scale) (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 8)))
            (br $m8)))
        (block $m4_done
          (loop $m4
            (br_if $m4_done (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $r)))
            (call $dot4_h (i32.add (local.get $pA) (i32.mul (local.get $k) (local.get $nh))) (local.get $xb) (local.get $n)
              (local.get $scale) (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $m4)))))
    (block $k_done
      (loop $kl
        (br_if $k_done (i32.ge_u (local.get $k) (local.get $r)))
        (f32.store (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2)))
          (f32.mul (call $dot_h (i32.add (local.get $pA) (i32.mul (local.get $k) (local.get $nh))) (local.get $xb) (local.get $n)) (local.get $scale)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
    (local.set $k (i32.const 0))
    (block $k4_done
      (loop $k4
        (br_if $k4_done (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $r)))
        (local.set $m (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2))))
        (call $axpy4_h (local.get $ob) (i32.add (local.get $pBt) (i32.mul (local.get $k) (local.get $dh)))
          (f32.load offset=0 (local.get $m)) (f32.load offset=4 (local.get $m)) (f32.load offset=8 (local.get $m)) (f32.load offset=12 (local.get $m)) (local.get $d))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $k4)))
    (block $k1_done
      (loop $k1
        (br_if $k1_done (i32.ge_u (local.get $k) (local.get $r)))
        (call $axpy1_h (local.get $ob) (i32.add (local.get $pBt) (i32.mul (local.get $k) (local.get $dh)))
          (f32.load (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2)))) (local.get $d))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $k1))))

  ;; The bf16 bits each f32 rounds to, nearest even; a NaN stays a NaN of its sign, made quiet (lora.ts
  ;; toBf16, which adapter-slots.ts uses where this module is not loaded). The add cannot carry out of
  ;; 32 bits for any non-NaN input (the largest, 0xff7fffff, comes to 0xff807fff).
  (func $bf16 (param $b i32) (result i32)
    (if (result i32) (i32.gt_u (i32.and (local.get $b) (i32.const 0x7fffffff)) (i32.const 0x7f800000))
      (then (i32.or (i32.shr_u (local.get $b) (i32.const 16)) (i32.const 0x40)))
      (else (i32.shr_u (i32.add (i32.add (local.get $b) (i32.const 0x7fff)) (i32.and (i32.shr_u (local.get $b) (i32.const 16)) (i32.const 1))) (i32.const 16)))))
  (func $bf16x4 (param $v v128) (result v128)
    (v128.bitselect
      (v128.or (i32x4.shr_u (local.get $v) (i32.const 16)) (v128.const i32x4 0x40 0x40 0x40 0x40))
      (i32x4.shr_u (i32x4.add (i32x4.add (local.get $v) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
        (v128.and (i32x4.shr_u (local.get $v) (i32.const 16)) (v128.const i32x4 1 1 1 1))) (i32.const 16))
      (i32x4.gt_u (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))

  ;; dst[i] (u16) = $bf16(src[i]) for n f32 values at src: what AdapterSlots.place writes a bf16
  ;; block with, eight values a pass (each lane's result is at most 0xffff, so the saturating
  ;; narrow is exact). dst must not overlap src.
  (func (export "f32_to_bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32) (local $n8 i32) (local $s i32)
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_u (local.get $i) (local.get $n8)))
        (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
          (i16x8.narrow_i32x4_u (call $bf16x4 (v128.load (local.get $s))) (call $bf16x4 (v128.load offset=16 (local.get $s)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store16 (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1))) (call $bf16 (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; The deltas of rows b0..b1 for nproj projections that share one input x (rows, n): q, k and v
  ;; of a layer, or gate and up. Projection j's descriptor at $desc + 16·j: its row table, its
  ;; output (rows, d_j), d_j. Row b's table entry (16 bytes at table + 16·b: A offset, Bᵀ offset,
  ;; rank | BF16, scale; rank 0: no adapter on this row) gives out_j[b] += Bᵀᵀ·(scale · A·x[b]),
  ;; A and Bᵀ in the kernel's layout (the top of this file), f32, or bf16 where the entry says
  ;; BF16 (bit 16). Row by row, so one row's matrices for all of them, adjacent in its adapter's
  ;; block, are one stream. $mid holds the largest rank's floats of scratch.
  (func (export "lora_rows_t") (param $desc i32) (param $nproj i32) (param $x i32) (param $n i32) (param $b0 i32) (param $b1 i32) (param $mid i32)
    (local $b i32) (local $j i32) (local $dj i32) (local $e i32) (local $w i32) (local $d i32) (local $xb i32)
    (local.set $b (local.get $b0))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $b) (local.get $b1)))
        (local.set $xb (i32.add (local.get $x) (i32.mul (local.get $b) (i32.shl (local.get $n) (i32.const 2)))))
        (local.set $j (i32.const 0))
        (block $proj_done
          (loop $proj
            (br_if $proj_done (i32.ge_u (local.get $j) (local.get $nproj)))
            (local.set $dj (i32.add (local.get $desc) (i32.shl (local.get $j) (i32.const 4))))
            (local.set $e (i32.add (i32.load offset=0 (local.get $dj)) (i32.shl (local.get $b) (i32.const 4))))
            (local.set $w (i32.load offset=8 (local.get $e)))
            (if (i32.ne (i32.and (local.get $w) (i32.const 0xffff)) (i32.const 0))
              (then
                (local.set $d (i32.load offset=8 (local.get $dj)))
                (if (i32.and (local.get $w) (i32.const 0x10000))
                  (then (call $delta_h (i32.add (i32.load offset=4 (local.get $dj)) (i32.mul (local.get $b) (i32.shl (local.get $d) (i32.const 2)))) (local.get $xb)
                    (i32.load offset=0 (local.get $e)) (i32.load offset=4 (local.get $e)) (i32.and (local.get $w) (i32.const 0xffff)) (f32.load offset=12 (local.get $e)) (local.get $n) (local.get $d) (local.get $mid)))
                  (else (call $delta (i32.add (i32.load offset=4 (local.get $dj)) (i32.mul (local.get $b) (i32.shl (local.get $d) (i32.const 2)))) (local.get $xb)
                    (i32.load offset=0 (local.get $e)) (i32.load offset=4 (local.get $e)) (i32.and (local.get $w) (i32.const 0xffff)) (f32.load offset=12 (local.get $e)) (local.get $n) (local.get $d) (local.get $mid))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $proj)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))
)
