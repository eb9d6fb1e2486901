;; The engine's hot loops in WebAssembly SIMD (f32x4), hand-written so they read next to their
;; TypeScript references in ops.ts. Built by kernels/build.ts (wabt) into kernels.wasm, which is
;; committed; kernels.test.ts rebuilds it and checks the bytes, and checks every kernel against
;; ops.ts. Arguments are byte offsets into the shared memory the host passes in, row-major fp32,
;; with the same shapes as ops.ts; n, d need not be multiples of 4 (scalar tails). The inner
;; products use relaxed SIMD's f32x4.relaxed_madd: one fused multiply-add where the CPU has FMA
;; (as gcc -Ofast -march=native uses), a multiply then an add where it has not; either way the
;; result differs from ops.ts by rounding only, which the tests bound.
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; Math.log, once per row of the cross-entropy
  (import "env" "log" (func $log (param f64) (result f64)))

  ;; horizontal sum of the four lanes
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; the lane sums of a0..a3 side by side in one vector, by two rounds of shuffles
  (func $sums4 (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128) (result v128)
    (local $x v128)
    (local.set $x (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1))))
    (local.set $a2 (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $x) (local.get $a2))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $x) (local.get $a2))))

  ;; out(T,d) = x(T,n) · w(d,n)ᵀ. Four rows of w at a time: each x vector loaded once feeds four
  ;; multiply-adds, and the four rows stay in cache across all T rows of x.
  (func (export "matmul") (param $out i32) (param $x i32) (param $w i32) (param $T i32) (param $n i32) (param $d i32)
    (local $i i32) (local $t i32) (local $j i32) (local $nb i32) (local $n4 i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32) (local $xt i32) (local $o i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $xv v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $yv v128) (local $wv v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32) (local $xs f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))                          ;; bytes per row
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))  ;; bytes in whole vectors
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.gt_s (i32.add (local.get $i) (i32.const 3)) (i32.sub (local.get $d) (i32.const 1))))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))))
        (local.set $w1 (i32.add (local.get $w0) (local.get $nb)))
        (local.set $w2 (i32.add (local.get $w1) (local.get $nb)))
        (local.set $w3 (i32.add (local.get $w2) (local.get $nb)))
        (local.set $t (i32.const 0))
        (block $ts_done
          (loop $ts
            (br_if $ts_done (i32.ge_s (local.get $t) (local.get $T)))
            (local.set $xt (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))))
            ;; two rows of x at once where n has no tail: each w vector loaded once feeds both
            ;; rows (each row's sums in the same order as one row alone, so the same bits)
            (if (i32.and (i32.eq (local.get $n4) (local.get $nb)) (i32.lt_s (i32.add (local.get $t) (i32.const 1)) (local.get $T)))
              (then
                (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
                (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
                (local.set $b0 (v128.const i32x4 0 0 0 0)) (local.set $b1 (v128.const i32x4 0 0 0 0))
                (local.set $b2 (v128.const i32x4 0 0 0 0)) (local.set $b3 (v128.const i32x4 0 0 0 0))
                (local.set $j (i32.const 0))
                (block $pair_done
                  (loop $pair
                    (br_if $pair_done (i32.ge_s (local.get $j) (local.get $n4)))
                    (local.set $xv (v128.load (i32.add (local.get $xt) (local.get $j))))
                    (local.set $yv (v128.load (i32.add (i32.add (local.get $xt) (local.get $nb)) (local.get $j))))
                    (local.set $wv (v128.load (i32.add (local.get $w0) (local.get $j))))
                    (local.set $a0 (f32x4.relaxed_madd (local.get $wv) (local.get $xv) (local.get $a0)))
                    (local.set $b0 (f32x4.relaxed_madd (local.get $wv) (local.get $yv) (local.get $b0)))
                    (local.set $wv (v128.load (i32.add (local.get $w1) (local.get $j))))
                    (local.set $a1 (f32x4.relaxed_madd (local.get $wv) (local.get $xv) (local.get $a1)))
                    (local.set $b1 (f32x4.relaxed_madd (local.get $wv) (local.get $yv) (local.get $b1)))
                    (local.set $wv (v128.load (i32.add (local.get $w2) (local.get $j))))
                    (local.set $a2 (f32x4.relaxed_madd (local.get $wv) (local.get $xv) (local.get $a2)))
                    (local.set $b2 (f32x4.relaxed_madd (local.get $wv) (local.get $yv) (local.get $b2)))
                    (local.set $wv (v128.load (i32.add (local.get $w3) (local.get $j))))
                    (local.set $a3 (f32x4.relaxed_madd (local.get $wv) (local.get $xv) (local.get $a3)))
                    (local.set $b3 (f32x4.relaxed_madd (local.get $wv) (local.get $yv) (local.get $b3)))
                    (local.set $j (i32.add (local.get $j) (i32.const 16)))
                    (br $pair)))
                (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
                (v128.store (local.get $o) (call $sums4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
                (v128.store (i32.add (local.get $o) (i32.shl (local.get $d) (i32.const 2))) (call $sums4 (local.get $b0) (local.get $b1) (local.get $b2) (local.get $b3)))
                (local.set $t (i32.add (local.get $t) (i32.const 2)))
                (br $ts)))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $j (i32.const 0))
            (block $vec_done
              (loop $vec
                (br_if $vec_done (i32.ge_s (local.get $j) (local.get $n4)))
                (local.set $xv (v128.load (i32.add (local.get $xt) (local.get $j))))
                (local.set $a0 (f32x4.relaxed_madd (v128.load (i32.add (local.get $w0) (local.get $j))) (local.get $xv) (local.get $a0)))
                (local.set $a1 (f32x4.relaxed_madd (v128.load (i32.add (local.get $w1) (local.get $j))) (local.get $xv) (local.get $a1)))
                (local.set $a2 (f32x4.relaxed_madd (v128.load (i32.add (local.get $w2) (local.get $j))) (local.get $xv) (local.get $a2)))
                (local.set $a3 (f32x4.relaxed_madd (v128.load (i32.add (local.get $w3) (local.get $j))) (local.get $xv) (local.get $a3)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $vec)))
            (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (if (i32.eq (local.get $n4) (local.get $nb))
              (then
                ;; no tail: the four lane sums side by side, one store
                (v128.store (local.get $o) (call $sums4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $ts)))
            (local.set $s0 (call $hsum (local.get $a0)))
            (local.set $s1 (call $hsum (local.get $a1)))
            (local.set $s2 (call $hsum (local.get $a2)))
            (local.set $s3 (call $hsum (local.get $a3)))
            (block $tail_done
              (loop $tail
                (br_if $tail_done (i32.ge_s (local.get $j) (local.get $nb)))
                (local.set $xs (f32.load (i32.add (local.get $xt) (local.get $j))))
                (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (i32.add (local.get $w0) (local.get $j))) (local.get $xs))))
                (local.set $s1 (f32.add (local.get $s1) (f32.mul (f32.load (i32.add (local.get $w1) (local.get $j))) (local.get $xs))))
                (local.set $s2 (f32.add (local.get $s2) (f32.mul (f32.load (i32.add (local.get $w2) (local.get $j))) (local.get $xs))))
                (local.set $s3 (f32.add (local.get $s3) (f32.mul (f32.load (i32.add (local.get $w3) (local.get $j))) (local.get $xs))))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $tail)))
            (f32.store offset=0 (local.get $o) (local.get $s0))
            (f32.store offset=4 (local.get $o) (local.get $s1))
            (f32.store offset=8 (local.get $o) (local.get $s2))
            (f32.store offset=12 (local.get $o) (local.get $s3))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $ts)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))
    ;; the d % 4 leftover rows, one dot product each
    (block $left_done
      (loop $left
        (br_if $left_done (i32.ge_s (local.get $i) (local.get $d)))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))))
        (local.set $t (i32.const 0))
        (block $lt_done
          (loop $lt
            (br_if $lt_done (i32.ge_s (local.get $t) (local.get $T)))
            (f32.store
              (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2)))
              (call $dot (local.get $w0) (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))) (local.get $n)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $lt)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $left))))

  ;; Σ a[j]·b[j] over n floats (one vector accumulator, scalar tail)
  (func $dot (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $acc v128) (local $s f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $j))) (v128.load (i32.add (local.get $b) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (local.set $s (call $hsum (local.get $acc)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (i32.add (local.get $a) (local.get $j))) (f32.load (i32.add (local.get $b) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
    (local.get $s))

  ;; y[j] += g0·a0[j] + g1·a1[j] + g2·a2[j] + g3·a3[j] over n floats: the shared inner loop of
  ;; both backward products (rows a0..a3 are 'stride' bytes apart; pass g1..g3 = 0 for fewer rows).
  (func $axpy4 (param $y i32) (param $a0 i32) (param $stride i32) (param $g0 f32) (param $g1 f32) (param $g2 f32) (param $g3 f32) (param $n i32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $a1 i32) (local $a2 i32) (local $a3 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $a1 (i32.add (local.get $a0) (local.get $stride)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $stride)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $stride)))
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
          (f32x4.relaxed_madd (local.get $v0) (v128.load (i32.add (local.get $a0) (local.get $j)))
            (f32x4.relaxed_madd (local.get $v1) (v128.load (i32.add (local.get $a1) (local.get $j)))
              (f32x4.relaxed_madd (local.get $v2) (v128.load (i32.add (local.get $a2) (local.get $j)))
                (f32x4.relaxed_madd (local.get $v3) (v128.load (i32.add (local.get $a3) (local.get $j))) (v128.load (i32.add (local.get $y) (local.get $j))))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (f32.store (i32.add (local.get $y) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $y) (local.get $j)))
            (f32.add
              (f32.add (f32.mul (local.get $g0) (f32.load (i32.add (local.get $a0) (local.get $j))))
                       (f32.mul (local.get $g1) (f32.load (i32.add (local.get $a1) (local.get $j)))))
              (f32.add (f32.mul (local.get $g2) (f32.load (i32.add (local.get $a2) (local.get $j))))
                       (f32.mul (local.get $g3) (f32.load (i32.add (local.get $a3) (local.get $j))))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail))))

  ;; dx rows t..t+3 (at $dx, $nb bytes apart) += dy rows t..t+3 (at $dy, $db bytes apart) · w(d,n):
  ;; a register tile of four rows × eight columns (eight accumulators) over all d, each w vector
  ;; loaded once for four rows and each dy value once (a splat) for eight columns; then four
  ;; columns, then single columns for the n % 4 left.
  (func $dx_block4 (param $dx i32) (param $dy i32) (param $w i32) (param $n i32) (param $d i32) (param $db i32)
    (local $j i32) (local $i i32) (local $nb i32) (local $wp i32) (local $g i32) (local $o i32) (local $gs v128) (local $w0 v128) (local $w1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32) (local $wv f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    ;; eight columns at a time
    (block $j8_done
      (loop $j8
        (br_if $j8_done (i32.gt_s (i32.add (local.get $j) (i32.const 32)) (local.get $nb)))
        (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
        (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
        (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
        (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
        (local.set $wp (i32.add (local.get $w) (local.get $j)))
        (local.set $g (local.get $dy))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $il
            (br_if $i_done (i32.ge_s (local.get $i) (local.get $d)))
            (local.set $w0 (v128.load offset=0 (local.get $wp)))
            (local.set $w1 (v128.load offset=16 (local.get $wp)))
            (local.set $gs (v128.load32_splat (local.get $g)))
            (local.set $c00 (f32x4.relaxed_madd (local.get $gs) (local.get $w0) (local.get $c00)))
            (local.set $c01 (f32x4.relaxed_madd (local.get $gs) (local.get $w1) (local.get $c01)))
            (local.set $gs (v128.load32_splat (i32.add (local.get $g) (local.get $db))))
            (local.set $c10 (f32x4.relaxed_madd (local.get $gs) (local.get $w0) (local.get $c10)))
            (local.set $c11 (f32x4.relaxed_madd (local.get $gs) (local.get $w1) (local.get $c11)))
            (local.set $gs (v128.load32_splat (i32.add (local.get $g) (i32.shl (local.get $db) (i32.const 1)))))
            (local.set $c20 (f32x4.relaxed_madd (local.get $gs) (local.get $w0) (local.get $c20)))
            (local.set $c21 (f32x4.relaxed_madd (local.get $gs) (local.get $w1) (local.get $c21)))
            (local.set $gs (v128.load32_splat (i32.add (local.get $g) (i32.mul (local.get $db) (i32.const 3)))))
            (local.set $c30 (f32x4.relaxed_madd (local.get $gs) (local.get $w0) (local.get $c30)))
            (local.set $c31 (f32x4.relaxed_madd (local.get $gs) (local.get $w1) (local.get $c31)))
            (local.set $wp (i32.add (local.get $wp) (local.get $nb)))
            (local.set $g (i32.add (local.get $g) (i32.const 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))
        (local.set $o (i32.add (local.get $dx) (local.get $j)))
        (v128.store offset=0 (local.get $o) (f32x4.add (v128.load offset=0 (local.get $o)) (local.get $c00)))
        (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (local.get $c01)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (v128.store offset=0 (local.get $o) (f32x4.add (v128.load offset=0 (local.get $o)) (local.get $c10)))
        (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (local.get $c11)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (v128.store offset=0 (local.get $o) (f32x4.add (v128.load offset=0 (local.get $o)) (local.get $c20)))
        (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (local.get $c21)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (v128.store offset=0 (local.get $o) (f32x4.add (v128.load offset=0 (local.get $o)) (local.get $c30)))
        (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (local.get $c31)))
        (local.set $j (i32.add (local.get $j) (i32.const 32)))
        (br $j8)))
    ;; four columns
    (if (i32.le_s (i32.add (local.get $j) (i32.const 16)) (local.get $nb))
      (then
        (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c10 (v128.const i32x4 0 0 0 0))
        (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c30 (v128.const i32x4 0 0 0 0))
        (local.set $wp (i32.add (local.get $w) (local.get $j)))
        (local.set $g (local.get $dy))
        (local.set $i (i32.const 0))
        (block $i4_done
          (loop $i4
            (br_if $i4_done (i32.ge_s (local.get $i) (local.get $d)))
            (local.set $w0 (v128.load (local.get $wp)))
            (local.set $c00 (f32x4.relaxed_madd (v128.load32_splat (local.get $g)) (local.get $w0) (local.get $c00)))
            (local.set $c10 (f32x4.relaxed_madd (v128.load32_splat (i32.add (local.get $g) (local.get $db))) (local.get $w0) (local.get $c10)))
            (local.set $c20 (f32x4.relaxed_madd (v128.load32_splat (i32.add (local.get $g) (i32.shl (local.get $db) (i32.const 1)))) (local.get $w0) (local.get $c20)))
            (local.set $c30 (f32x4.relaxed_madd (v128.load32_splat (i32.add (local.get $g) (i32.mul (local.get $db) (i32.const 3)))) (local.get $w0) (local.get $c30)))
            (local.set $wp (i32.add (local.get $wp) (local.get $nb)))
            (local.set $g (i32.add (local.get $g) (i32.const 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i4)))
        (local.set $o (i32.add (local.get $dx) (local.get $j)))
        (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (local.get $c00)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (local.get $c10)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (local.get $c20)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (local.get $c30)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))))
    ;; single columns
    (block $j1_done
      (loop $j1
        (br_if $j1_done (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $s0 (f32.const 0)) (local.set $s1 (f32.const 0)) (local.set $s2 (f32.const 0)) (local.set $s3 (f32.const 0))
        (local.set $wp (i32.add (local.get $w) (local.get $j)))
        (local.set $g (local.get $dy))
        (local.set $i (i32.const 0))
        (block $i1_done
          (loop $i1
            (br_if $i1_done (i32.ge_s (local.get $i) (local.get $d)))
            (local.set $wv (f32.load (local.get $wp)))
            (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (local.get $g)) (local.get $wv))))
            (local.set $s1 (f32.add (local.get $s1) (f32.mul (f32.load (i32.add (local.get $g) (local.get $db))) (local.get $wv))))
            (local.set $s2 (f32.add (local.get $s2) (f32.mul (f32.load (i32.add (local.get $g) (i32.shl (local.get $db) (i32.const 1)))) (local.get $wv))))
            (local.set $s3 (f32.add (local.get $s3) (f32.mul (f32.load (i32.add (local.get $g) (i32.mul (local.get $db) (i32.const 3)))) (local.get $wv))))
            (local.set $wp (i32.add (local.get $wp) (local.get $nb)))
            (local.set $g (i32.add (local.get $g) (i32.const 4)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i1)))
        (local.set $o (i32.add (local.get $dx) (local.get $j)))
        (f32.store (local.get $o) (f32.add (f32.load (local.get $o)) (local.get $s0)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (f32.store (local.get $o) (f32.add (f32.load (local.get $o)) (local.get $s1)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (f32.store (local.get $o) (f32.add (f32.load (local.get $o)) (local.get $s2)))
        (local.set $o (i32.add (local.get $o) (local.get $nb)))
        (f32.store (local.get $o) (f32.add (f32.load (local.get $o)) (local.get $s3)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $j1))))

  ;; dx(T,n) += dy(T,d) · w(d,n): rows in blocks of four through $dx_block4, then each row left
  ;; over with four rows of w at a time.
  (func (export "matmul_dx") (param $dx i32) (param $dy i32) (param $w i32) (param $T i32) (param $n i32) (param $d i32)
    (local $t i32) (local $i i32) (local $nb i32) (local $g i32) (local $xrow i32) (local $db i32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $db (i32.shl (local.get $d) (i32.const 2)))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.gt_s (i32.add (local.get $t) (i32.const 4)) (local.get $T)))
        (call $dx_block4 (i32.add (local.get $dx) (i32.mul (local.get $t) (local.get $nb))) (i32.add (local.get $dy) (i32.mul (local.get $t) (local.get $db)))
          (local.get $w) (local.get $n) (local.get $d) (local.get $db))
        (local.set $t (i32.add (local.get $t) (i32.const 4)))
        (br $blocks)))
    (block $ts_done
      (loop $ts
        (br_if $ts_done (i32.ge_s (local.get $t) (local.get $T)))
        (local.set $xrow (i32.add (local.get $dx) (i32.mul (local.get $t) (local.get $nb))))
        (local.set $i (i32.const 0))
        (block $rows_done
          (loop $rows
            (br_if $rows_done (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (call $axpy4 (local.get $xrow) (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))) (local.get $nb)
              (f32.load offset=0 (local.get $g)) (f32.load offset=4 (local.get $g)) (f32.load offset=8 (local.get $g)) (f32.load offset=12 (local.get $g)) (local.get $n))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $rows)))
        (block $left_done
          (loop $left
            (br_if $left_done (i32.ge_s (local.get $i) (local.get $d)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            ;; one row: the other three rows get weight 0 and point at row i itself (in bounds)
            (call $axpy4 (local.get $xrow) (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))) (i32.const 0)
              (f32.load (local.get $g)) (f32.const 0) (f32.const 0) (f32.const 0) (local.get $n))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $left)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $ts))))

  ;; dw(d,n) += dy(T,d)ᵀ · x(T,n) for rows i0..i1 of dw (threads take disjoint row ranges): for
  ;; each row i of dw, four rows of x at a time.
  (func (export "matmul_dw") (param $dw i32) (param $dy i32) (param $x i32) (param $T i32) (param $n i32) (param $d i32) (param $i0 i32) (param $i1 i32)
    (local $t i32) (local $i i32) (local $nb i32) (local $db i32) (local $g i32) (local $wrow i32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $db (i32.shl (local.get $d) (i32.const 2)))
    (local.set $i (local.get $i0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $i) (local.get $i1)))
        (local.set $wrow (i32.add (local.get $dw) (i32.mul (local.get $i) (local.get $nb))))
        (local.set $t (i32.const 0))
        (block $ts_done
          (loop $ts
            (br_if $ts_done (i32.gt_s (i32.add (local.get $t) (i32.const 4)) (local.get $T)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (call $axpy4 (local.get $wrow) (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))) (local.get $nb)
              (f32.load (local.get $g))
              (f32.load (i32.add (local.get $g) (local.get $db)))
              (f32.load (i32.add (local.get $g) (i32.mul (local.get $db) (i32.const 2))))
              (f32.load (i32.add (local.get $g) (i32.mul (local.get $db) (i32.const 3))))
              (local.get $n))
            (local.set $t (i32.add (local.get $t) (i32.const 4)))
            (br $ts)))
        (block $left_done
          (loop $left
            (br_if $left_done (i32.ge_s (local.get $t) (local.get $T)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (call $axpy4 (local.get $wrow) (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))) (i32.const 0)
              (f32.load (local.get $g)) (f32.const 0) (f32.const 0) (f32.const 0) (local.get $n))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $left)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; One decode row of causal grouped-query attention over its KV cache (model.ts forward):
  ;; q (nH·hd) at $q, keys and values of positions 0..pos at $k and $v (kvDim = nKv·hd floats
  ;; per position), $scores (pos+1 floats) scratch, out (nH·hd) at $out. hd % 4 == 0. The
  ;; softmax is exp_row's (the SIMD polynomial, within 2 ulp of Math.exp), one call per head.
  (func (export "attend") (param $out i32) (param $q i32) (param $k i32) (param $v i32) (param $scores i32) (param $pos i32) (param $nH i32) (param $nKv i32) (param $hd i32)
    (local $h i32) (local $t i32) (local $i i32) (local $hb i32) (local $kvb i32) (local $qo i32) (local $ko i32) (local $oo i32) (local $kt i32)
    (local $scale f32) (local $dot f32) (local $max f32) (local $inv f32) (local $a v128) (local $acc v128) (local $group i32)
    (local.set $hb (i32.shl (local.get $hd) (i32.const 2)))
    (local.set $kvb (i32.mul (local.get $nKv) (local.get $hb)))
    (local.set $group (i32.div_u (local.get $nH) (local.get $nKv)))
    (local.set $scale (f32.div (f32.const 1) (f32.sqrt (f32.convert_i32_u (local.get $hd)))))
    (block $heads_done
      (loop $heads
        (br_if $heads_done (i32.ge_u (local.get $h) (local.get $nH)))
        (local.set $qo (i32.add (local.get $q) (i32.mul (local.get $h) (local.get $hb))))
        (local.set $ko (i32.mul (i32.div_u (local.get $h) (local.get $group)) (local.get $hb)))
        (local.set $oo (i32.add (local.get $out) (i32.mul (local.get $h) (local.get $hb))))
        ;; scores[t] = q·k[t] / √hd, and their max
        (local.set $max (f32.const -inf))
        (local.set $t (i32.const 0))
        (block $s_done
          (loop $s
            (br_if $s_done (i32.gt_s (local.get $t) (local.get $pos)))
            (local.set $kt (i32.add (i32.add (local.get $k) (i32.mul (local.get $t) (local.get $kvb))) (local.get $ko)))
            (local.set $acc (v128.const i32x4 0 0 0 0))
            (local.set $i (i32.const 0))
            (block $d_done
              (loop $d
                (br_if $d_done (i32.ge_u (local.get $i) (local.get $hb)))
                (local.set $acc (f32x4.relaxed_madd (v128.load (i32.add (local.get $qo) (local.get $i))) (v128.load (i32.add (local.get $kt) (local.get $i))) (local.get $acc)))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $d)))
            (local.set $dot (f32.mul (call $hsum (local.get $acc)) (local.get $scale)))
            (f32.store (i32.add (local.get $scores) (i32.shl (local.get $t) (i32.const 2))) (local.get $dot))
            (local.set $max (f32.max (local.get $max) (local.get $dot)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $s)))
        ;; softmax numerators, and 1 / their sum
        (local.set $inv (f32.div (f32.const 1) (call $exp_row (local.get $scores) (i32.const 0) (local.get $pos) (local.get $max))))
        ;; out = Σ_t (scores[t] / sum) · v[t]
        (local.set $i (i32.const 0))
        (block $z_done
          (loop $z
            (br_if $z_done (i32.ge_u (local.get $i) (local.get $hb)))
            (v128.store (i32.add (local.get $oo) (local.get $i)) (v128.const i32x4 0 0 0 0))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $z)))
        (local.set $t (i32.const 0))
        (block $v_done
          (loop $vs
            (br_if $v_done (i32.gt_s (local.get $t) (local.get $pos)))
            (local.set $a (f32x4.splat (f32.mul (f32.load (i32.add (local.get $scores) (i32.shl (local.get $t) (i32.const 2)))) (local.get $inv))))
            (local.set $kt (i32.add (i32.add (local.get $v) (i32.mul (local.get $t) (local.get $kvb))) (local.get $ko)))
            (local.set $i (i32.const 0))
            (block $vi_done
              (loop $vi
                (br_if $vi_done (i32.ge_u (local.get $i) (local.get $hb)))
                (v128.store (i32.add (local.get $oo) (local.get $i))
                  (f32x4.relaxed_madd (local.get $a) (v128.load (i32.add (local.get $kt) (local.get $i))) (v128.load (i32.add (local.get $oo) (local.get $i)))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $vi)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $vs)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $heads))))

  ;; ── training kernels (train-graph.ts): exp, attention over a whole sequence and its
  ;; backward, RMSNorm, SwiGLU and cross-entropy, each next to its reference in ops.ts ──

  ;; e^x on four lanes (Cephes expf: x = n·ln2 + r, a degree-6 polynomial in r by Horner steps
  ;; as fused multiply-adds, 2ⁿ from the exponent bits), within 2 ulp of Math.exp in fp32. The
  ;; clamps are pmin/pmax (one instruction each, where min/max must order NaNs and zeros). x is clamped to [−87.3, 88] so 2ⁿ stays
  ;; a normal float: e^x below e^−87.3 (1.2e−38) comes out as that, not as 0.
  (func $exp4 (param $x v128) (result v128)
    (local $fx v128) (local $y v128) (local $z v128)
    (local.set $x (f32x4.pmin (f32x4.pmax (local.get $x) (f32x4.splat (f32.const -87.33654))) (f32x4.splat (f32.const 88.0))))
    (local.set $fx (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504088896341)))))
    (local.set $x (f32x4.relaxed_nmadd (local.get $fx) (f32x4.splat (f32.const -2.12194440e-4))
      (f32x4.relaxed_nmadd (local.get $fx) (f32x4.splat (f32.const 0.693359375)) (local.get $x))))
    (local.set $z (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $y (f32x4.splat (f32.const 1.9875691500e-4)))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 1.3981999507e-3))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 8.3334519073e-3))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 4.1665795894e-2))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 1.6666665459e-1))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 5.0000001201e-1))))
    (local.set $y (f32x4.add (f32x4.relaxed_madd (local.get $y) (local.get $z) (local.get $x)) (f32x4.splat (f32.const 1))))
    (f32x4.mul (local.get $y)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; e^x of one float, through the same polynomial (so vector bodies and scalar tails agree)
  (func $exp1 (param $x f32) (result f32)
    (f32x4.extract_lane 0 (call $exp4 (f32x4.splat (local.get $x)))))

  ;; the largest of the four lanes
  (func $hmax (param $v v128) (result f32)
    (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.max (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; row[s] = e^(row[s] − max) for s in s0..t, returning their sum: $exp4's polynomial written
  ;; out in the loop (a call per vector cost as much as the polynomial itself). Scores less
  ;; their max are ≤ 0, so only the lower clamp is needed.
  (func $exp_row (param $row i32) (param $s0 i32) (param $t i32) (param $max f32) (result f32)
    (local $s i32) (local $p i32) (local $x v128) (local $fx v128) (local $y v128) (local $z v128) (local $vsum v128) (local $vmax v128) (local $sum f32) (local $e f32)
    (local.set $vmax (f32x4.splat (local.get $max)))
    (local.set $s (local.get $s0))
    (block $v_done
      (loop $v_loop
        (br_if $v_done (i32.gt_s (i32.add (local.get $s) (i32.const 3)) (local.get $t)))
        (local.set $p (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2))))
        (local.set $x (f32x4.pmax (f32x4.sub (v128.load (local.get $p)) (local.get $vmax)) (f32x4.splat (f32.const -87.33654))))
        (local.set $fx (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504088896341)))))
        (local.set $x (f32x4.relaxed_nmadd (local.get $fx) (f32x4.splat (f32.const -2.12194440e-4))
          (f32x4.relaxed_nmadd (local.get $fx) (f32x4.splat (f32.const 0.693359375)) (local.get $x))))
        (local.set $z (f32x4.mul (local.get $x) (local.get $x)))
        (local.set $y (f32x4.relaxed_madd (f32x4.splat (f32.const 1.9875691500e-4)) (local.get $x) (f32x4.splat (f32.const 1.3981999507e-3))))
        (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 8.3334519073e-3))))
        (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 4.1665795894e-2))))
        (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 1.6666665459e-1))))
        (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 5.0000001201e-1))))
        (local.set $y (f32x4.add (f32x4.relaxed_madd (local.get $y) (local.get $z) (local.get $x)) (f32x4.splat (f32.const 1))))
        (local.set $y (f32x4.mul (local.get $y)
          (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx)) (i32x4.splat (i32.const 127))) (i32.const 23))))
        (v128.store (local.get $p) (local.get $y))
        (local.set $vsum (f32x4.add (local.get $vsum) (local.get $y)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (br $v_loop)))
    (block $t_done
      (loop $t_loop
        (br_if $t_done (i32.gt_s (local.get $s) (local.get $t)))
        (local.set $p (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2))))
        (local.set $e (call $exp1 (f32.sub (f32.load (local.get $p)) (local.get $max))))
        (f32.store (local.get $p) (local.get $e))
        (local.set $sum (f32.add (local.get $sum) (local.get $e)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $t_loop)))
    (f32.add (local.get $sum) (call $hsum (local.get $vsum))))

  ;; ── training attention, in blocks of four query rows ──
  ;; Every product of attention is one of three shapes over a block of four rows t0..t0+3 and
  ;; the key positions sA..sB (whole vectors of four, sB = t0+3), with keys and values of the
  ;; KV group transposed (hd rows of Tp positions) so four positions are one vector:
  ;;   outer: M[j][s] = Σ_i a_j[i]·Bᵀ[i][s]     scores (q·kᵀ), dP (dout·vᵀ)
  ;;   dot:   C[j][i] = Σ_s M[j][s]·Bᵀ[i][s]     out (P·v), dq (dS·k)
  ;;   rank4: Cᵀ[i][s] += Σ_j a_j[i]·M[j][s]    dkᵀ (qᵀ·dS), dvᵀ (doutᵀ·P)
  ;; The a_j[i] are four-lane splats laid out at $as (16 bytes each, row j at j·hd·16), zero for
  ;; rows past T, so those rows add nothing. Probabilities are (nH, Tp, Tp): rows 16-byte
  ;; aligned, zero outside the mask, so products over whole vectors need no masking.

  ;; $as[j][i] = splat(src[j·rowb + 4i] · mul) for j < nv, 0 for nv ≤ j < 4 (rows past the end)
  (func $splat_rows (param $as i32) (param $src i32) (param $rowb i32) (param $nv i32) (param $hd i32) (param $mul f32)
    (local $j i32) (local $i i32) (local $o i32) (local $row i32)
    (local.set $o (local.get $as))
    (block $j_done
      (loop $j_loop
        (br_if $j_done (i32.ge_u (local.get $j) (i32.const 4)))
        (local.set $row (i32.add (local.get $src) (i32.mul (local.get $j) (local.get $rowb))))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $hd)))
            (v128.store (local.get $o)
              (if (result v128) (i32.lt_u (local.get $j) (local.get $nv))
                (then (f32x4.splat (f32.mul (f32.load (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2)))) (local.get $mul))))
                (else (v128.const i32x4 0 0 0 0))))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i_loop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $j_loop))))

  ;; dst[i·Tp + s] = src[s·rowb + 4i] for s < T, i < hd, and 0 for T ≤ s < Tp: one KV group's
  ;; keys (or values) transposed, padded with zeros so whole vectors past T read zeros
  (func $transpose_group (param $dst i32) (param $src i32) (param $rowb i32) (param $T i32) (param $Tp i32) (param $hd i32)
    (local $s i32) (local $i i32) (local $row i32)
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.ge_u (local.get $s) (local.get $Tp)))
        (local.set $row (i32.add (local.get $src) (i32.mul (local.get $s) (local.get $rowb))))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $hd)))
            (f32.store (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $Tp)) (local.get $s)) (i32.const 2)))
              (if (result f32) (i32.lt_u (local.get $s) (local.get $T))
                (then (f32.load (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2)))))
                (else (f32.const 0))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i_loop)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $s_loop))))

  ;; dst[s·rowb + 4i] += srcᵀ[i·Tp + s] for s < T, i < hd: a transposed gradient added back
  (func $untranspose_add (param $dst i32) (param $src i32) (param $rowb i32) (param $T i32) (param $Tp i32) (param $hd i32)
    (local $s i32) (local $i i32) (local $o i32)
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.ge_u (local.get $s) (local.get $T)))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $hd)))
            (local.set $o (i32.add (i32.add (local.get $dst) (i32.mul (local.get $s) (local.get $rowb))) (i32.shl (local.get $i) (i32.const 2))))
            (f32.store (local.get $o) (f32.add (f32.load (local.get $o))
              (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $Tp)) (local.get $s)) (i32.const 2))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i_loop)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $s_loop))))

;; outer: m_j[s..s+3] = Σ_i as[j][i]·bT[i][s..s+3] for the four rows m_j = m + j·Tpb, s = sA..sB:
  ;; eight positions (two vectors, eight accumulators) at a time, then four
  (func $outer4 (param $m i32) (param $as i32) (param $bT i32) (param $Tpb i32) (param $hd i32) (param $sA i32) (param $sB i32)
    (local $s i32) (local $i i32) (local $b i32) (local $a i32) (local $hdb i32) (local $bv v128) (local $bw v128) (local $av v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128)
    (local.set $hdb (i32.shl (local.get $hd) (i32.const 4)))
    (local.set $s (i32.shl (local.get $sA) (i32.const 2)))
    (local.set $sB (i32.shl (local.get $sB) (i32.const 2)))
    (block $s8_done
      (loop $s8_loop
        (br_if $s8_done (i32.gt_s (i32.add (local.get $s) (i32.const 28)) (local.get $sB)))
        (local.set $c0 (v128.const i32x4 0 0 0 0)) (local.set $c1 (v128.const i32x4 0 0 0 0))
        (local.set $c2 (v128.const i32x4 0 0 0 0)) (local.set $c3 (v128.const i32x4 0 0 0 0))
        (local.set $e0 (v128.const i32x4 0 0 0 0)) (local.set $e1 (v128.const i32x4 0 0 0 0))
        (local.set $e2 (v128.const i32x4 0 0 0 0)) (local.set $e3 (v128.const i32x4 0 0 0 0))
        (local.set $b (i32.add (local.get $bT) (local.get $s)))
        (local.set $a (local.get $as))
        (local.set $i (i32.const 0))
        (block $i8_done
          (loop $i8_loop
            (br_if $i8_done (i32.ge_u (local.get $i) (local.get $hd)))
            (local.set $bv (v128.load offset=0 (local.get $b)))
            (local.set $bw (v128.load offset=16 (local.get $b)))
            (local.set $av (v128.load (local.get $a)))
            (local.set $c0 (f32x4.relaxed_madd (local.get $av) (local.get $bv) (local.get $c0)))
            (local.set $e0 (f32x4.relaxed_madd (local.get $av) (local.get $bw) (local.get $e0)))
            (local.set $av (v128.load (i32.add (local.get $a) (local.get $hdb))))
            (local.set $c1 (f32x4.relaxed_madd (local.get $av) (local.get $bv) (local.get $c1)))
            (local.set $e1 (f32x4.relaxed_madd (local.get $av) (local.get $bw) (local.get $e1)))
            (local.set $av (v128.load (i32.add (local.get $a) (i32.shl (local.get $hdb) (i32.const 1)))))
            (local.set $c2 (f32x4.relaxed_madd (local.get $av) (local.get $bv) (local.get $c2)))
            (local.set $e2 (f32x4.relaxed_madd (local.get $av) (local.get $bw) (local.get $e2)))
            (local.set $av (v128.load (i32.add (local.get $a) (i32.mul (local.get $hdb) (i32.const 3)))))
            (local.set $c3 (f32x4.relaxed_madd (local.get $av) (local.get $bv) (local.get $c3)))
            (local.set $e3 (f32x4.relaxed_madd (local.get $av) (local.get $bw) (local.get $e3)))
            (local.set $b (i32.add (local.get $b) (local.get $Tpb)))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i8_loop)))
        (local.set $b (i32.add (local.get $m) (local.get $s)))
        (v128.store offset=0 (local.get $b) (local.get $c0))
        (v128.store offset=16 (local.get $b) (local.get $e0))
        (local.set $b (i32.add (local.get $b) (local.get $Tpb)))
        (v128.store offset=0 (local.get $b) (local.get $c1))
        (v128.store offset=16 (local.get $b) (local.get $e1))
        (local.set $b (i32.add (local.get $b) (local.get $Tpb)))
        (v128.store offset=0 (local.get $b) (local.get $c2))
        (v128.store offset=16 (local.get $b) (local.get $e2))
        (local.set $b (i32.add (local.get $b) (local.get $Tpb)))
        (v128.store offset=0 (local.get $b) (local.get $c3))
        (v128.store offset=16 (local.get $b) (local.get $e3))
        (local.set $s (i32.add (local.get $s) (i32.const 32)))
        (br $s8_loop)))
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.gt_s (local.get $s) (local.get $sB)))
        (local.set $c0 (v128.const i32x4 0 0 0 0))
        (local.set $c1 (v128.const i32x4 0 0 0 0))
        (local.set $c2 (v128.const i32x4 0 0 0 0))
        (local.set $c3 (v128.const i32x4 0 0 0 0))
        (local.set $b (i32.add (local.get $bT) (local.get $s)))
        (local.set $a (local.get $as))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $hd)))
            (local.set $bv (v128.load (local.get $b)))
            (local.set $c0 (f32x4.relaxed_madd (v128.load (local.get $a)) (local.get $bv) (local.get $c0)))
            (local.set $c1 (f32x4.relaxed_madd (v128.load (i32.add (local.get $a) (local.get $hdb))) (local.get $bv) (local.get $c1)))
            (local.set $c2 (f32x4.relaxed_madd (v128.load (i32.add (local.get $a) (i32.shl (local.get $hdb) (i32.const 1)))) (local.get $bv) (local.get $c2)))
            (local.set $c3 (f32x4.relaxed_madd (v128.load (i32.add (local.get $a) (i32.mul (local.get $hdb) (i32.const 3)))) (local.get $bv) (local.get $c3)))
            (local.set $b (i32.add (local.get $b) (local.get $Tpb)))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i_loop)))
        (v128.store (i32.add (local.get $m) (local.get $s)) (local.get $c0))
        (v128.store (i32.add (i32.add (local.get $m) (local.get $Tpb)) (local.get $s)) (local.get $c1))
        (v128.store (i32.add (i32.add (local.get $m) (i32.shl (local.get $Tpb) (i32.const 1))) (local.get $s)) (local.get $c2))
        (v128.store (i32.add (i32.add (local.get $m) (i32.mul (local.get $Tpb) (i32.const 3))) (local.get $s)) (local.get $c3))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (br $s_loop))))

    ;; dot: out[j·orow + 4i] (+)= Σ_s m_j[s]·bT[i][s] over s = sA..sB, rows j < nv, two i at a time
  ;; (hd is a multiple of 4); $add 0 stores, 1 adds to what is there
  (func $dot4 (param $out i32) (param $orow i32) (param $m i32) (param $bT i32) (param $Tpb i32) (param $hd i32) (param $sA i32) (param $sB i32) (param $nv i32) (param $add i32)
    (local $s i32) (local $i i32) (local $j i32) (local $b0 i32) (local $b1 i32) (local $o i32) (local $bv0 v128) (local $bv1 v128) (local $mv v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $m1 i32) (local $m2 i32) (local $m3 i32) (local $v0 f32) (local $v1 f32)
    (local.set $m1 (i32.add (local.get $m) (local.get $Tpb)))
    (local.set $m2 (i32.add (local.get $m1) (local.get $Tpb)))
    (local.set $m3 (i32.add (local.get $m2) (local.get $Tpb)))
    (local.set $sA (i32.shl (local.get $sA) (i32.const 2)))
    (local.set $sB (i32.shl (local.get $sB) (i32.const 2)))
    (block $i_done
      (loop $i_loop
        (br_if $i_done (i32.ge_u (local.get $i) (local.get $hd)))
        (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
        (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
        (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
        (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
        (local.set $b0 (i32.add (local.get $bT) (i32.mul (local.get $i) (local.get $Tpb))))
        (local.set $b1 (i32.add (local.get $b0) (local.get $Tpb)))
        (local.set $s (local.get $sA))
        (block $s_done
          (loop $s_loop
            (br_if $s_done (i32.gt_s (local.get $s) (local.get $sB)))
            (local.set $bv0 (v128.load (i32.add (local.get $b0) (local.get $s))))
            (local.set $bv1 (v128.load (i32.add (local.get $b1) (local.get $s))))
            (local.set $mv (v128.load (i32.add (local.get $m) (local.get $s))))
            (local.set $c00 (f32x4.relaxed_madd (local.get $mv) (local.get $bv0) (local.get $c00)))
            (local.set $c01 (f32x4.relaxed_madd (local.get $mv) (local.get $bv1) (local.get $c01)))
            (local.set $mv (v128.load (i32.add (local.get $m1) (local.get $s))))
            (local.set $c10 (f32x4.relaxed_madd (local.get $mv) (local.get $bv0) (local.get $c10)))
            (local.set $c11 (f32x4.relaxed_madd (local.get $mv) (local.get $bv1) (local.get $c11)))
            (local.set $mv (v128.load (i32.add (local.get $m2) (local.get $s))))
            (local.set $c20 (f32x4.relaxed_madd (local.get $mv) (local.get $bv0) (local.get $c20)))
            (local.set $c21 (f32x4.relaxed_madd (local.get $mv) (local.get $bv1) (local.get $c21)))
            (local.set $mv (v128.load (i32.add (local.get $m3) (local.get $s))))
            (local.set $c30 (f32x4.relaxed_madd (local.get $mv) (local.get $bv0) (local.get $c30)))
            (local.set $c31 (f32x4.relaxed_madd (local.get $mv) (local.get $bv1) (local.get $c31)))
            (local.set $s (i32.add (local.get $s) (i32.const 16)))
            (br $s_loop)))
        ;; row j's two sums go to out[j·orow + 4i], out[j·orow + 4i + 4]
        (local.set $j (i32.const 0))
        (block $j_done
          (loop $j_loop
            (br_if $j_done (i32.ge_u (local.get $j) (local.get $nv)))
            (local.set $o (i32.add (i32.add (local.get $out) (i32.mul (local.get $j) (local.get $orow))) (i32.shl (local.get $i) (i32.const 2))))
            (local.set $v0 (call $hsum (if (result v128) (i32.eqz (local.get $j)) (then (local.get $c00))
              (else (if (result v128) (i32.eq (local.get $j) (i32.const 1)) (then (local.get $c10))
                (else (if (result v128) (i32.eq (local.get $j) (i32.const 2)) (then (local.get $c20)) (else (local.get $c30)))))))))
            (local.set $v1 (call $hsum (if (result v128) (i32.eqz (local.get $j)) (then (local.get $c01))
              (else (if (result v128) (i32.eq (local.get $j) (i32.const 1)) (then (local.get $c11))
                (else (if (result v128) (i32.eq (local.get $j) (i32.const 2)) (then (local.get $c21)) (else (local.get $c31)))))))))
            (if (local.get $add)
              (then
                (local.set $v0 (f32.add (local.get $v0) (f32.load offset=0 (local.get $o))))
                (local.set $v1 (f32.add (local.get $v1) (f32.load offset=4 (local.get $o))))))
            (f32.store offset=0 (local.get $o) (local.get $v0))
            (f32.store offset=4 (local.get $o) (local.get $v1))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $j_loop)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $i_loop))))

  ;; rank4: cT[i][s..s+3] += Σ_j as[j][i]·m_j[s..s+3] for s = sA..sB (the four rows m_j = m + j·Tpb)
  (func $rank4 (param $cT i32) (param $m i32) (param $as i32) (param $Tpb i32) (param $hd i32) (param $sA i32) (param $sB i32)
    (local $s i32) (local $i i32) (local $c i32) (local $a i32) (local $hdb i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local.set $hdb (i32.shl (local.get $hd) (i32.const 4)))
    (local.set $s (i32.shl (local.get $sA) (i32.const 2)))
    (local.set $sB (i32.shl (local.get $sB) (i32.const 2)))
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.gt_s (local.get $s) (local.get $sB)))
        (local.set $m0 (v128.load (i32.add (local.get $m) (local.get $s))))
        (local.set $m1 (v128.load (i32.add (i32.add (local.get $m) (local.get $Tpb)) (local.get $s))))
        (local.set $m2 (v128.load (i32.add (i32.add (local.get $m) (i32.shl (local.get $Tpb) (i32.const 1))) (local.get $s))))
        (local.set $m3 (v128.load (i32.add (i32.add (local.get $m) (i32.mul (local.get $Tpb) (i32.const 3))) (local.get $s))))
        (local.set $c (i32.add (local.get $cT) (local.get $s)))
        (local.set $a (local.get $as))
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $hd)))
            (v128.store (local.get $c)
              (f32x4.relaxed_madd (v128.load (local.get $a)) (local.get $m0)
                (f32x4.relaxed_madd (v128.load (i32.add (local.get $a) (local.get $hdb))) (local.get $m1)
                  (f32x4.relaxed_madd (v128.load (i32.add (local.get $a) (i32.shl (local.get $hdb) (i32.const 1)))) (local.get $m2)
                    (f32x4.relaxed_madd (v128.load (i32.add (local.get $a) (i32.mul (local.get $hdb) (i32.const 3)))) (local.get $m3) (v128.load (local.get $c)))))))
            (local.set $c (i32.add (local.get $c) (local.get $Tpb)))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i_loop)))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (br $s_loop))))

  ;; one probability row from its scaled scores at row[sA..sB]: softmax over s0..t, 0 elsewhere
  (func $softmax_row (param $row i32) (param $sA i32) (param $s0 i32) (param $t i32) (param $sB i32)
    (local $s i32) (local $max f32) (local $vmax v128) (local $inv f32) (local $vinv v128)
    ;; the block's positions outside this row's mask
    (local.set $s (local.get $sA))
    (block $a_done
      (loop $a_loop
        (br_if $a_done (i32.ge_s (local.get $s) (local.get $s0)))
        (f32.store (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2))) (f32.const 0))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $a_loop)))
    (local.set $s (i32.add (local.get $t) (i32.const 1)))
    (block $b_done
      (loop $b_loop
        (br_if $b_done (i32.gt_s (local.get $s) (local.get $sB)))
        (f32.store (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2))) (f32.const 0))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $b_loop)))
    ;; the max over s0..t
    (local.set $vmax (f32x4.splat (f32.const -inf)))
    (local.set $max (f32.const -inf))
    (local.set $s (local.get $s0))
    (block $m_done
      (loop $m_loop
        (br_if $m_done (i32.gt_s (i32.add (local.get $s) (i32.const 3)) (local.get $t)))
        (local.set $vmax (f32x4.pmax (local.get $vmax) (v128.load (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2))))))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (br $m_loop)))
    (block $mt_done
      (loop $mt_loop
        (br_if $mt_done (i32.gt_s (local.get $s) (local.get $t)))
        (local.set $max (f32.max (local.get $max) (f32.load (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2))))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $mt_loop)))
    (local.set $max (f32.max (local.get $max) (call $hmax (local.get $vmax))))
    ;; numerators e^(score − max), then divided by their sum
    (local.set $inv (f32.div (f32.const 1) (call $exp_row (local.get $row) (local.get $s0) (local.get $t) (local.get $max))))
    (local.set $vinv (f32x4.splat (local.get $inv)))
    (local.set $s (local.get $s0))
    (block $n_done
      (loop $n_loop
        (br_if $n_done (i32.gt_s (i32.add (local.get $s) (i32.const 3)) (local.get $t)))
        (v128.store (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2)))
          (f32x4.mul (v128.load (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2)))) (local.get $vinv)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (br $n_loop)))
    (block $nt_done
      (loop $nt_loop
        (br_if $nt_done (i32.gt_s (local.get $s) (local.get $t)))
        (f32.store (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2)))
          (f32.mul (f32.load (i32.add (local.get $row) (i32.shl (local.get $s) (i32.const 2)))) (local.get $inv)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $nt_loop))))

  ;; softmax backward of one row, in place over dp[sA..sB]: dS = P·(dP − Σ P·dP)·scale (P is 0
  ;; outside the mask, so whole vectors need no masking)
  (func $dsoftmax_row (param $p i32) (param $dp i32) (param $sA i32) (param $sB i32) (param $scale f32)
    (local $s i32) (local $vdot v128) (local $vs v128) (local $pv v128) (local $o i32)
    (local.set $sA (i32.shl (local.get $sA) (i32.const 2)))
    (local.set $sB (i32.shl (local.get $sB) (i32.const 2)))
    (local.set $s (local.get $sA))
    (block $d_done
      (loop $d_loop
        (br_if $d_done (i32.gt_s (local.get $s) (local.get $sB)))
        (local.set $vdot (f32x4.add (local.get $vdot) (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $s))) (v128.load (i32.add (local.get $dp) (local.get $s))))))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (br $d_loop)))
    (local.set $vdot (f32x4.splat (call $hsum (local.get $vdot))))
    (local.set $vs (f32x4.splat (local.get $scale)))
    (local.set $s (local.get $sA))
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.gt_s (local.get $s) (local.get $sB)))
        (local.set $o (i32.add (local.get $dp) (local.get $s)))
        (v128.store (local.get $o)
          (f32x4.mul (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $s))) (f32x4.sub (v128.load (local.get $o)) (local.get $vdot))) (local.get $vs)))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (br $s_loop))))

  ;; the four rows from t0: how many are in the sequence (nv), and the first key position of the
  ;; block, rounded down to a vector (the smallest document start among them)
  (func $block_start (param $starts i32) (param $hasStarts i32) (param $t0 i32) (param $nv i32) (result i32)
    (local $j i32) (local $s0 i32)
    (if (i32.eqz (local.get $hasStarts)) (then (return (i32.const 0))))
    (local.set $s0 (local.get $t0))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $j) (local.get $nv)))
        (local.set $s0 (select (local.get $s0) (i32.load (i32.add (local.get $starts) (i32.shl (i32.add (local.get $t0) (local.get $j)) (i32.const 2))))
          (i32.lt_s (local.get $s0) (i32.load (i32.add (local.get $starts) (i32.shl (i32.add (local.get $t0) (local.get $j)) (i32.const 2)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $l)))
    (i32.and (local.get $s0) (i32.const -4)))

  ;; Causal GQA attention over one sequence, as ops.ts attention: q (T, nH·hd), k, v (T, nKv·hd)
  ;; → out (T, nH·hd), probs (nH, Tp, Tp) kept for the backward, Tp = T rounded up to 4. Only
  ;; each block of four rows' positions sA..sB are written (the softmax, 0 outside each row's
  ;; mask; the rows past T all 0): nothing reads the rest, so it is left as it was, where
  ;; zeroing it cost a memset of the whole (nH, Tp, Tp) per call. $starts: T int32 document starts (block-diagonal mask) when $hasStarts,
  ;; else every row sees 0..t. $work: 2·hd·Tp + 16·hd floats of scratch. hd % 4 == 0. Heads
  ;; h0..h1 only, whole KV groups (threads take whole groups: a group's heads share its k, v).
  (func (export "attn_fwd") (param $out i32) (param $probs i32) (param $q i32) (param $k i32) (param $v i32) (param $starts i32) (param $hasStarts i32)
    (param $work i32) (param $T i32) (param $nH i32) (param $nKv i32) (param $hd i32) (param $h0 i32) (param $h1 i32)
    (local $Tp i32) (local $Tpb i32) (local $qb i32) (local $kvb i32) (local $group i32) (local $g i32) (local $h i32) (local $t0 i32) (local $j i32)
    (local $nv i32) (local $sA i32) (local $m i32) (local $kT i32) (local $vT i32) (local $as i32) (local $scale f32)
    (local.set $Tp (i32.and (i32.add (local.get $T) (i32.const 3)) (i32.const -4)))
    (local.set $Tpb (i32.shl (local.get $Tp) (i32.const 2)))
    (local.set $qb (i32.shl (i32.mul (local.get $nH) (local.get $hd)) (i32.const 2)))
    (local.set $kvb (i32.shl (i32.mul (local.get $nKv) (local.get $hd)) (i32.const 2)))
    (local.set $group (i32.div_u (local.get $nH) (local.get $nKv)))
    (local.set $scale (f32.div (f32.const 1) (f32.sqrt (f32.convert_i32_u (local.get $hd)))))
    (local.set $kT (local.get $work))
    (local.set $vT (i32.add (local.get $kT) (i32.mul (local.get $hd) (local.get $Tpb))))
    (local.set $as (i32.add (local.get $vT) (i32.mul (local.get $hd) (local.get $Tpb))))
    (local.set $h (local.get $h0))
    (block $h_done
      (loop $h_loop
        (br_if $h_done (i32.ge_u (local.get $h) (local.get $h1)))
        (local.set $g (i32.div_u (local.get $h) (local.get $group)))
        (if (i32.or (i32.eq (local.get $h) (local.get $h0)) (i32.eqz (i32.rem_u (local.get $h) (local.get $group))))
          (then
            (call $transpose_group (local.get $kT) (i32.add (local.get $k) (i32.shl (i32.mul (local.get $g) (local.get $hd)) (i32.const 2))) (local.get $kvb) (local.get $T) (local.get $Tp) (local.get $hd))
            (call $transpose_group (local.get $vT) (i32.add (local.get $v) (i32.shl (i32.mul (local.get $g) (local.get $hd)) (i32.const 2))) (local.get $kvb) (local.get $T) (local.get $Tp) (local.get $hd))))
        (local.set $t0 (i32.const 0))
        (block $t_done
          (loop $t_loop
            (br_if $t_done (i32.ge_u (local.get $t0) (local.get $T)))
            (local.set $nv (select (i32.const 4) (i32.sub (local.get $T) (local.get $t0)) (i32.le_u (i32.add (local.get $t0) (i32.const 4)) (local.get $T))))
            (local.set $sA (call $block_start (local.get $starts) (local.get $hasStarts) (local.get $t0) (local.get $nv)))
            (local.set $m (i32.add (local.get $probs) (i32.mul (i32.add (i32.mul (local.get $h) (local.get $Tp)) (local.get $t0)) (local.get $Tpb))))
            ;; scores q·k/√hd (the scale folded into the query's splats)
            (call $splat_rows (local.get $as) (i32.add (local.get $q) (i32.add (i32.mul (local.get $t0) (local.get $qb)) (i32.shl (i32.mul (local.get $h) (local.get $hd)) (i32.const 2))))
              (local.get $qb) (local.get $nv) (local.get $hd) (local.get $scale))
            (call $outer4 (local.get $m) (local.get $as) (local.get $kT) (local.get $Tpb) (local.get $hd) (local.get $sA) (i32.add (local.get $t0) (i32.const 3)))
            ;; each row's softmax over its own document's positions s0..t
            (local.set $j (i32.const 0))
            (block $j_done
              (loop $j_loop
                (br_if $j_done (i32.ge_u (local.get $j) (local.get $nv)))
                (call $softmax_row (i32.add (local.get $m) (i32.mul (local.get $j) (local.get $Tpb))) (local.get $sA)
                  (if (result i32) (local.get $hasStarts) (then (i32.load (i32.add (local.get $starts) (i32.shl (i32.add (local.get $t0) (local.get $j)) (i32.const 2))))) (else (i32.const 0)))
                  (i32.add (local.get $t0) (local.get $j)) (i32.add (local.get $t0) (i32.const 3)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $j_loop)))
            ;; out = P·v
            (call $dot4 (i32.add (local.get $out) (i32.add (i32.mul (local.get $t0) (local.get $qb)) (i32.shl (i32.mul (local.get $h) (local.get $hd)) (i32.const 2))))
              (local.get $qb) (local.get $m) (local.get $vT) (local.get $Tpb) (local.get $hd) (local.get $sA) (i32.add (local.get $t0) (i32.const 3)) (local.get $nv) (i32.const 0))
            (local.set $t0 (i32.add (local.get $t0) (i32.const 4)))
            (br $t_loop)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $h_loop))))

  ;; Backward of attn_fwd, as ops.ts attentionBackward: accumulates dq, dk, dv from dout and the
  ;; stored probs (nH, Tp, Tp). $work: 4·hd·Tp + 32·hd + 4·Tp floats of scratch. Heads h0..h1
  ;; only, whole KV groups (they accumulate into their group's dk, dv).
  (func (export "attn_bwd") (param $dq i32) (param $dk i32) (param $dv i32) (param $dout i32) (param $probs i32) (param $q i32) (param $k i32) (param $v i32)
    (param $starts i32) (param $hasStarts i32) (param $work i32) (param $T i32) (param $nH i32) (param $nKv i32) (param $hd i32) (param $h0 i32) (param $h1 i32)
    (local $Tp i32) (local $Tpb i32) (local $qb i32) (local $kvb i32) (local $group i32) (local $g i32) (local $h i32) (local $t0 i32) (local $j i32)
    (local $nv i32) (local $sA i32) (local $sB i32) (local $m i32) (local $kT i32) (local $vT i32) (local $dkT i32) (local $dvT i32) (local $as i32) (local $qs i32) (local $dp i32)
    (local $qo i32) (local $go i32) (local $scale f32)
    (local.set $Tp (i32.and (i32.add (local.get $T) (i32.const 3)) (i32.const -4)))
    (local.set $Tpb (i32.shl (local.get $Tp) (i32.const 2)))
    (local.set $qb (i32.shl (i32.mul (local.get $nH) (local.get $hd)) (i32.const 2)))
    (local.set $kvb (i32.shl (i32.mul (local.get $nKv) (local.get $hd)) (i32.const 2)))
    (local.set $group (i32.div_u (local.get $nH) (local.get $nKv)))
    (local.set $scale (f32.div (f32.const 1) (f32.sqrt (f32.convert_i32_u (local.get $hd)))))
    (local.set $kT (local.get $work))
    (local.set $vT (i32.add (local.get $kT) (i32.mul (local.get $hd) (local.get $Tpb))))
    (local.set $dkT (i32.add (local.get $vT) (i32.mul (local.get $hd) (local.get $Tpb))))
    (local.set $dvT (i32.add (local.get $dkT) (i32.mul (local.get $hd) (local.get $Tpb))))
    (local.set $as (i32.add (local.get $dvT) (i32.mul (local.get $hd) (local.get $Tpb))))
    (local.set $qs (i32.add (local.get $as) (i32.shl (local.get $hd) (i32.const 6))))
    (local.set $dp (i32.add (local.get $qs) (i32.shl (local.get $hd) (i32.const 6))))
    (local.set $h (local.get $h0))
    (block $h_done
      (loop $h_loop
        (br_if $h_done (i32.ge_u (local.get $h) (local.get $h1)))
        (local.set $g (i32.div_u (local.get $h) (local.get $group)))
        (local.set $go (i32.shl (i32.mul (local.get $g) (local.get $hd)) (i32.const 2)))
        (if (i32.or (i32.eq (local.get $h) (local.get $h0)) (i32.eqz (i32.rem_u (local.get $h) (local.get $group))))
          (then
            (call $transpose_group (local.get $kT) (i32.add (local.get $k) (local.get $go)) (local.get $kvb) (local.get $T) (local.get $Tp) (local.get $hd))
            (call $transpose_group (local.get $vT) (i32.add (local.get $v) (local.get $go)) (local.get $kvb) (local.get $T) (local.get $Tp) (local.get $hd))
            (memory.fill (local.get $dkT) (i32.const 0) (i32.shl (i32.mul (local.get $hd) (local.get $Tpb)) (i32.const 1)))))
        (local.set $t0 (i32.const 0))
        (block $t_done
          (loop $t_loop
            (br_if $t_done (i32.ge_u (local.get $t0) (local.get $T)))
            (local.set $nv (select (i32.const 4) (i32.sub (local.get $T) (local.get $t0)) (i32.le_u (i32.add (local.get $t0) (i32.const 4)) (local.get $T))))
            (local.set $sA (call $block_start (local.get $starts) (local.get $hasStarts) (local.get $t0) (local.get $nv)))
            (local.set $sB (i32.add (local.get $t0) (i32.const 3)))
            (local.set $m (i32.add (local.get $probs) (i32.mul (i32.add (i32.mul (local.get $h) (local.get $Tp)) (local.get $t0)) (local.get $Tpb))))
            (local.set $qo (i32.add (i32.mul (local.get $t0) (local.get $qb)) (i32.shl (i32.mul (local.get $h) (local.get $hd)) (i32.const 2))))
            ;; dP = dout·vᵀ, then dS in place
            (call $splat_rows (local.get $as) (i32.add (local.get $dout) (local.get $qo)) (local.get $qb) (local.get $nv) (local.get $hd) (f32.const 1))
            (call $outer4 (local.get $dp) (local.get $as) (local.get $vT) (local.get $Tpb) (local.get $hd) (local.get $sA) (local.get $sB))
            (local.set $j (i32.const 0))
            (block $j_done
              (loop $j_loop
                (br_if $j_done (i32.ge_u (local.get $j) (i32.const 4)))
                (call $dsoftmax_row (i32.add (local.get $m) (i32.mul (local.get $j) (local.get $Tpb))) (i32.add (local.get $dp) (i32.mul (local.get $j) (local.get $Tpb)))
                  (local.get $sA) (local.get $sB) (local.get $scale))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $j_loop)))
            ;; dq += dS·k; dkᵀ += qᵀ·dS; dvᵀ += doutᵀ·P
            (call $dot4 (i32.add (local.get $dq) (local.get $qo)) (local.get $qb) (local.get $dp) (local.get $kT) (local.get $Tpb) (local.get $hd) (local.get $sA) (local.get $sB) (local.get $nv) (i32.const 1))
            (call $splat_rows (local.get $qs) (i32.add (local.get $q) (local.get $qo)) (local.get $qb) (local.get $nv) (local.get $hd) (f32.const 1))
            (call $rank4 (local.get $dkT) (local.get $dp) (local.get $qs) (local.get $Tpb) (local.get $hd) (local.get $sA) (local.get $sB))
            (call $rank4 (local.get $dvT) (local.get $m) (local.get $as) (local.get $Tpb) (local.get $hd) (local.get $sA) (local.get $sB))
            (local.set $t0 (i32.add (local.get $t0) (i32.const 4)))
            (br $t_loop)))
        ;; the group's last head: its transposed dk, dv go back into dk, dv
        (if (i32.or (i32.eq (i32.add (local.get $h) (i32.const 1)) (local.get $h1)) (i32.eqz (i32.rem_u (i32.add (local.get $h) (i32.const 1)) (local.get $group))))
          (then
            (call $untranspose_add (i32.add (local.get $dk) (local.get $go)) (local.get $dkT) (local.get $kvb) (local.get $T) (local.get $Tp) (local.get $hd))
            (call $untranspose_add (i32.add (local.get $dv) (local.get $go)) (local.get $dvT) (local.get $kvb) (local.get $T) (local.get $Tp) (local.get $hd))))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $h_loop))))

  ;; out = x / rms(x) · w per row of n, as ops.ts rmsnorm (sum of squares in f32 lanes)
  (func (export "rmsnorm") (param $out i32) (param $x i32) (param $w i32) (param $T i32) (param $n i32) (param $eps f32)
    (local $t i32) (local $j i32) (local $nb i32) (local $n4 i32) (local $xo i32) (local $oo i32) (local $acc v128) (local $ss f32) (local $r f32) (local $vr v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $t_done
      (loop $t_loop
        (br_if $t_done (i32.ge_u (local.get $t) (local.get $T)))
        (local.set $xo (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))))
        (local.set $oo (i32.add (local.get $out) (i32.mul (local.get $t) (local.get $nb))))
        (local.set $ss (f32.div (call $dot (local.get $xo) (local.get $xo) (local.get $n)) (f32.convert_i32_u (local.get $n))))
        (local.set $r (f32.div (f32.const 1) (f32.sqrt (f32.add (local.get $ss) (local.get $eps)))))
        (local.set $vr (f32x4.splat (local.get $r)))
        (local.set $j (i32.const 0))
        (block $v_done
          (loop $v_loop
            (br_if $v_done (i32.ge_u (local.get $j) (local.get $n4)))
            (v128.store (i32.add (local.get $oo) (local.get $j))
              (f32x4.mul (f32x4.mul (v128.load (i32.add (local.get $xo) (local.get $j))) (local.get $vr)) (v128.load (i32.add (local.get $w) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $v_loop)))
        (block $s_done
          (loop $s_loop
            (br_if $s_done (i32.ge_u (local.get $j) (local.get $nb)))
            (f32.store (i32.add (local.get $oo) (local.get $j))
              (f32.mul (f32.mul (f32.load (i32.add (local.get $xo) (local.get $j))) (local.get $r)) (f32.load (i32.add (local.get $w) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $s_loop)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $t_loop))))

  ;; Backward of rmsnorm, as ops.ts rmsnormBackward: dx += r·g − r³·x·(g·x)/n with g = dy⊙w,
  ;; and dw += Σ_t dy⊙x·r when $hasDw.
  (func (export "rmsnorm_bwd") (param $dx i32) (param $dw i32) (param $hasDw i32) (param $dy i32) (param $x i32) (param $w i32) (param $T i32) (param $n i32) (param $eps f32)
    (local $t i32) (local $j i32) (local $nb i32) (local $n4 i32) (local $xo i32) (local $yo i32) (local $dxo i32)
    (local $acc v128) (local $r f32) (local $gx f32) (local $cc f32) (local $vr v128) (local $vc v128) (local $xv v128) (local $yv v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $t_done
      (loop $t_loop
        (br_if $t_done (i32.ge_u (local.get $t) (local.get $T)))
        (local.set $xo (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))))
        (local.set $yo (i32.add (local.get $dy) (i32.mul (local.get $t) (local.get $nb))))
        (local.set $dxo (i32.add (local.get $dx) (i32.mul (local.get $t) (local.get $nb))))
        (local.set $r (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.div (call $dot (local.get $xo) (local.get $xo) (local.get $n)) (f32.convert_i32_u (local.get $n))) (local.get $eps)))))
        ;; g·x = Σ dy·w·x
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $gx (f32.const 0))
        (local.set $j (i32.const 0))
        (block $g_done
          (loop $g_loop
            (br_if $g_done (i32.ge_u (local.get $j) (local.get $n4)))
            (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (f32x4.mul (v128.load (i32.add (local.get $yo) (local.get $j))) (v128.load (i32.add (local.get $w) (local.get $j)))) (v128.load (i32.add (local.get $xo) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $g_loop)))
        (block $gs_done
          (loop $gs_loop
            (br_if $gs_done (i32.ge_u (local.get $j) (local.get $nb)))
            (local.set $gx (f32.add (local.get $gx) (f32.mul (f32.mul (f32.load (i32.add (local.get $yo) (local.get $j))) (f32.load (i32.add (local.get $w) (local.get $j)))) (f32.load (i32.add (local.get $xo) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $gs_loop)))
        (local.set $gx (f32.add (local.get $gx) (call $hsum (local.get $acc))))
        (local.set $cc (f32.div (f32.mul (f32.mul (f32.mul (local.get $r) (local.get $r)) (local.get $r)) (local.get $gx)) (f32.convert_i32_u (local.get $n))))
        (local.set $vr (f32x4.splat (local.get $r)))
        (local.set $vc (f32x4.splat (local.get $cc)))
        (local.set $j (i32.const 0))
        (block $v_done
          (loop $v_loop
            (br_if $v_done (i32.ge_u (local.get $j) (local.get $n4)))
            (local.set $xv (v128.load (i32.add (local.get $xo) (local.get $j))))
            (local.set $yv (v128.load (i32.add (local.get $yo) (local.get $j))))
            (v128.store (i32.add (local.get $dxo) (local.get $j))
              (f32x4.add (v128.load (i32.add (local.get $dxo) (local.get $j)))
                (f32x4.sub (f32x4.mul (f32x4.mul (local.get $vr) (local.get $yv)) (v128.load (i32.add (local.get $w) (local.get $j)))) (f32x4.mul (local.get $vc) (local.get $xv)))))
            (if (local.get $hasDw)
              (then (v128.store (i32.add (local.get $dw) (local.get $j))
                (f32x4.add (v128.load (i32.add (local.get $dw) (local.get $j))) (f32x4.mul (f32x4.mul (local.get $yv) (local.get $xv)) (local.get $vr))))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $v_loop)))
        (block $s_done
          (loop $s_loop
            (br_if $s_done (i32.ge_u (local.get $j) (local.get $nb)))
            (f32.store (i32.add (local.get $dxo) (local.get $j))
              (f32.add (f32.load (i32.add (local.get $dxo) (local.get $j)))
                (f32.sub (f32.mul (f32.mul (local.get $r) (f32.load (i32.add (local.get $yo) (local.get $j)))) (f32.load (i32.add (local.get $w) (local.get $j))))
                  (f32.mul (local.get $cc) (f32.load (i32.add (local.get $xo) (local.get $j)))))))
            (if (local.get $hasDw)
              (then (f32.store (i32.add (local.get $dw) (local.get $j))
                (f32.add (f32.load (i32.add (local.get $dw) (local.get $j)))
                  (f32.mul (f32.mul (f32.load (i32.add (local.get $yo) (local.get $j))) (f32.load (i32.add (local.get $xo) (local.get $j)))) (local.get $r))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $s_loop)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $t_loop))))

  ;; σ(g) = 1 / (1 + e^−g) on four lanes, exp4's operations written out (the same bits as calling
  ;; it; V8 does not inline the call, which costs about as much as the polynomial)
  (func $sigmoid4 (param $g v128) (result v128)
    (local $x v128) (local $fx v128) (local $y v128) (local $z v128)
    (local.set $x (f32x4.neg (local.get $g)))
    (local.set $x (f32x4.pmin (f32x4.pmax (local.get $x) (f32x4.splat (f32.const -87.33654))) (f32x4.splat (f32.const 88.0))))
    (local.set $fx (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504088896341)))))
    (local.set $x (f32x4.relaxed_nmadd (local.get $fx) (f32x4.splat (f32.const -2.12194440e-4))
      (f32x4.relaxed_nmadd (local.get $fx) (f32x4.splat (f32.const 0.693359375)) (local.get $x))))
    (local.set $z (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $y (f32x4.splat (f32.const 1.9875691500e-4)))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 1.3981999507e-3))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 8.3334519073e-3))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 4.1665795894e-2))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 1.6666665459e-1))))
    (local.set $y (f32x4.relaxed_madd (local.get $y) (local.get $x) (f32x4.splat (f32.const 5.0000001201e-1))))
    (local.set $y (f32x4.add (f32x4.relaxed_madd (local.get $y) (local.get $z) (local.get $x)) (f32x4.splat (f32.const 1))))
    (f32x4.div (f32x4.splat (f32.const 1)) (f32x4.add (f32x4.splat (f32.const 1))
      (f32x4.mul (local.get $y) (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx)) (i32x4.splat (i32.const 127))) (i32.const 23))))))

  ;; SwiGLU over n values, as ops.ts swiglu: out = g·σ(g)·up. Vectors of four, then a tail
  ;; through the same lanes (the last partial vector is read and written lane by lane).
  (func (export "swiglu") (param $out i32) (param $gate i32) (param $up i32) (param $n i32)
    (local $j i32) (local $nb i32) (local $n4 i32) (local $g v128) (local $y v128) (local $gs f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $v_done
      (loop $v_loop
        (br_if $v_done (i32.ge_u (local.get $j) (local.get $n4)))
        (local.set $g (v128.load (i32.add (local.get $gate) (local.get $j))))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.mul (f32x4.mul (local.get $g) (call $sigmoid4 (local.get $g))) (v128.load (i32.add (local.get $up) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $v_loop)))
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.ge_u (local.get $j) (local.get $nb)))
        (local.set $gs (f32.load (i32.add (local.get $gate) (local.get $j))))
        (f32.store (i32.add (local.get $out) (local.get $j))
          (f32.mul (f32.mul (local.get $gs) (f32x4.extract_lane 0 (call $sigmoid4 (f32x4.splat (local.get $gs))))) (f32.load (i32.add (local.get $up) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $s_loop))))

  ;; Backward of swiglu, as ops.ts swigluBackward: dgate += dout·up·σ(g)·(1 + g·(1 − σ(g))),
  ;; dup += dout·g·σ(g).
  (func (export "swiglu_bwd") (param $dgate i32) (param $dup i32) (param $dout i32) (param $gate i32) (param $up i32) (param $n i32)
    (local $j i32) (local $nb i32) (local $n4 i32) (local $g v128) (local $sg v128) (local $d v128) (local $p i32)
    (local $gs f32) (local $ss f32) (local $ds f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $v_done
      (loop $v_loop
        (br_if $v_done (i32.ge_u (local.get $j) (local.get $n4)))
        (local.set $g (v128.load (i32.add (local.get $gate) (local.get $j))))
        (local.set $sg (call $sigmoid4 (local.get $g)))
        (local.set $d (v128.load (i32.add (local.get $dout) (local.get $j))))
        (local.set $p (i32.add (local.get $dgate) (local.get $j)))
        (v128.store (local.get $p) (f32x4.add (v128.load (local.get $p))
          (f32x4.mul (f32x4.mul (f32x4.mul (local.get $d) (v128.load (i32.add (local.get $up) (local.get $j)))) (local.get $sg))
            (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $g) (f32x4.sub (f32x4.splat (f32.const 1)) (local.get $sg)))))))
        (local.set $p (i32.add (local.get $dup) (local.get $j)))
        (v128.store (local.get $p) (f32x4.add (v128.load (local.get $p)) (f32x4.mul (f32x4.mul (local.get $d) (local.get $g)) (local.get $sg))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $v_loop)))
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.ge_u (local.get $j) (local.get $nb)))
        (local.set $gs (f32.load (i32.add (local.get $gate) (local.get $j))))
        (local.set $ss (f32x4.extract_lane 0 (call $sigmoid4 (f32x4.splat (local.get $gs)))))
        (local.set $ds (f32.load (i32.add (local.get $dout) (local.get $j))))
        (local.set $p (i32.add (local.get $dgate) (local.get $j)))
        (f32.store (local.get $p) (f32.add (f32.load (local.get $p))
          (f32.mul (f32.mul (f32.mul (local.get $ds) (f32.load (i32.add (local.get $up) (local.get $j)))) (local.get $ss))
            (f32.add (f32.const 1) (f32.mul (local.get $gs) (f32.sub (f32.const 1) (local.get $ss)))))))
        (local.set $p (i32.add (local.get $dup) (local.get $j)))
        (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (f32.mul (f32.mul (local.get $ds) (local.get $gs)) (local.get $ss))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $s_loop))))

  ;; Cross-entropy of one row of V logits against target y, as one row of ops.ts crossEntropy:
  ;; returns the row's loss log Σ e^(l − max) + max − l[y] and, when $hasDl, writes
  ;; dl = softmax(l)·c, less c at y.
  (func $xent_row (param $dl i32) (param $hasDl i32) (param $l i32) (param $y i32) (param $V i32) (param $c f32) (result f64)
    (local $j i32) (local $vb i32) (local $v4 i32) (local $max f32) (local $vmax v128) (local $vsum v128) (local $sum f32) (local $e f32) (local $vx v128) (local $inv f32)
    (local.set $vb (i32.shl (local.get $V) (i32.const 2)))
    (local.set $v4 (i32.shl (i32.and (local.get $V) (i32.const -4)) (i32.const 2)))
    (local.set $vmax (f32x4.splat (f32.const -inf)))
    (local.set $max (f32.const -inf))
    (block $m_done
      (loop $m_loop
        (br_if $m_done (i32.ge_u (local.get $j) (local.get $v4)))
        (local.set $vmax (f32x4.max (local.get $vmax) (v128.load (i32.add (local.get $l) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $m_loop)))
    (block $mt_done
      (loop $mt_loop
        (br_if $mt_done (i32.ge_u (local.get $j) (local.get $vb)))
        (local.set $max (f32.max (local.get $max) (f32.load (i32.add (local.get $l) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $mt_loop)))
    (local.set $max (f32.max (local.get $max) (call $hmax (local.get $vmax))))
    ;; Σ e^(l − max), the numerators written to dl when it is wanted: copied there and
    ;; exponentiated in place by exp_row (its polynomial inline: a call per vector to exp4 cost
    ;; as much again)
    (local.set $j (i32.const 0))
    (if (local.get $hasDl)
      (then
        (memory.copy (local.get $dl) (local.get $l) (local.get $vb))
        (local.set $sum (call $exp_row (local.get $dl) (i32.const 0) (i32.sub (local.get $V) (i32.const 1)) (local.get $max)))
        (local.set $j (local.get $vb)))) ;; past both loops below
    (block $e_done
      (loop $e_loop
        (br_if $e_done (i32.ge_u (local.get $j) (local.get $v4)))
        (local.set $vx (call $exp4 (f32x4.sub (v128.load (i32.add (local.get $l) (local.get $j))) (f32x4.splat (local.get $max)))))
        (if (local.get $hasDl) (then (v128.store (i32.add (local.get $dl) (local.get $j)) (local.get $vx))))
        (local.set $vsum (f32x4.add (local.get $vsum) (local.get $vx)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $e_loop)))
    (block $et_done
      (loop $et_loop
        (br_if $et_done (i32.ge_u (local.get $j) (local.get $vb)))
        (local.set $e (call $exp1 (f32.sub (f32.load (i32.add (local.get $l) (local.get $j))) (local.get $max))))
        (if (local.get $hasDl) (then (f32.store (i32.add (local.get $dl) (local.get $j)) (local.get $e))))
        (local.set $sum (f32.add (local.get $sum) (local.get $e)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $et_loop)))
    (local.set $sum (f32.add (local.get $sum) (call $hsum (local.get $vsum))))
    (if (local.get $hasDl)
      (then
        (local.set $inv (f32.div (local.get $c) (local.get $sum)))
        (local.set $vx (f32x4.splat (local.get $inv)))
        (local.set $j (i32.const 0))
        (block $d_done
          (loop $d_loop
            (br_if $d_done (i32.ge_u (local.get $j) (local.get $v4)))
            (v128.store (i32.add (local.get $dl) (local.get $j)) (f32x4.mul (v128.load (i32.add (local.get $dl) (local.get $j))) (local.get $vx)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $d_loop)))
        (block $dt_done
          (loop $dt_loop
            (br_if $dt_done (i32.ge_u (local.get $j) (local.get $vb)))
            (f32.store (i32.add (local.get $dl) (local.get $j)) (f32.mul (f32.load (i32.add (local.get $dl) (local.get $j))) (local.get $inv)))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $dt_loop)))
        (local.set $j (i32.add (local.get $dl) (i32.shl (local.get $y) (i32.const 2))))
        (f32.store (local.get $j) (f32.sub (f32.load (local.get $j)) (local.get $c)))))
    (f64.sub (f64.add (call $log (f64.promote_f32 (local.get $sum))) (f64.promote_f32 (local.get $max)))
      (f64.promote_f32 (f32.load (i32.add (local.get $l) (i32.shl (local.get $y) (i32.const 2)))))))

  ;; Mean cross-entropy's rows, as ops.ts crossEntropy: logits (T,V) against int32 targets
  ;; (−1 = ignored: its dl row is zeroed); returns the summed loss; dl (when $hasDl) gets
  ;; softmax·c less c at the target, c = gradScale / count from the host.
  (func (export "cross_entropy") (param $dl i32) (param $hasDl i32) (param $logits i32) (param $targets i32) (param $T i32) (param $V i32) (param $c f32) (result f64)
    (local $t i32) (local $y i32) (local $o i32) (local $sum f64)
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $t) (local.get $T)))
        (local.set $o (i32.shl (i32.mul (local.get $t) (local.get $V)) (i32.const 2)))
        (local.set $y (i32.load (i32.add (local.get $targets) (i32.shl (local.get $t) (i32.const 2)))))
        (if (i32.lt_s (local.get $y) (i32.const 0))
          (then (if (local.get $hasDl) (then (memory.fill (i32.add (local.get $dl) (local.get $o)) (i32.const 0) (i32.shl (local.get $V) (i32.const 2))))))
          (else (local.set $sum (f64.add (local.get $sum)
            (call $xent_row (i32.add (local.get $dl) (local.get $o)) (local.get $hasDl) (i32.add (local.get $logits) (local.get $o)) (local.get $y) (local.get $V) (local.get $c))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $rows)))
    (local.get $sum))

  ;; BGMV (lora.ts addLoraDelta) for a whole batch in one call: for each row b, table entry b
  ;; (16 bytes: A offset, B offset, rank r, scale f32; r = 0 means no adapter on this row) gives
  ;; out[b] += scale · B·(A·x[b]), with A (r,n), B (d,r); $mid holds r floats of scratch.
  (func (export "lora_rows") (param $out i32) (param $x i32) (param $table i32) (param $rows i32) (param $n i32) (param $d i32) (param $mid i32)
    (local $b i32) (local $e i32) (local $pA i32) (local $pB i32) (local $r i32) (local $scale f32)
    (local $k i32) (local $i i32) (local $xb i32) (local $ob i32) (local $rb i32) (local $o i32)
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $b) (local.get $rows)))
        (local.set $e (i32.add (local.get $table) (i32.shl (local.get $b) (i32.const 4))))
        (local.set $r (i32.load offset=8 (local.get $e)))
        (if (i32.ne (local.get $r) (i32.const 0))
          (then
            (local.set $pA (i32.load offset=0 (local.get $e)))
            (local.set $pB (i32.load offset=4 (local.get $e)))
            (local.set $scale (f32.load offset=12 (local.get $e)))
            (local.set $xb (i32.add (local.get $x) (i32.mul (local.get $b) (i32.shl (local.get $n) (i32.const 2)))))
            (local.set $ob (i32.add (local.get $out) (i32.mul (local.get $b) (i32.shl (local.get $d) (i32.const 2)))))
            (local.set $rb (i32.shl (local.get $r) (i32.const 2)))
            ;; mid = scale · A·x[b]
            (local.set $k (i32.const 0))
            (block $k_done
              (loop $kl
                (br_if $k_done (i32.ge_u (local.get $k) (local.get $r)))
                (f32.store (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2)))
                  (f32.mul (call $dot (i32.add (local.get $pA) (i32.mul (local.get $k) (i32.shl (local.get $n) (i32.const 2)))) (local.get $xb) (local.get $n)) (local.get $scale)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $kl)))
            ;; out[b] += B·mid
            (local.set $i (i32.const 0))
            (block $i_done
              (loop $il
                (br_if $i_done (i32.ge_u (local.get $i) (local.get $d)))
                (local.set $o (i32.add (local.get $ob) (i32.shl (local.get $i) (i32.const 2))))
                (f32.store (local.get $o) (f32.add (f32.load (local.get $o)) (call $dot (i32.add (local.get $pB) (i32.mul (local.get $i) (local.get $rb))) (local.get $mid) (local.get $r))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $il)))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))

  ;; y[i] += a·x[i] over n values, as ops.ts addScaled (the graph's residual adds and LoRA
  ;; deltas, which were JS loops over the heap)
  (func (export "add_scaled") (param $y i32) (param $x i32) (param $a f32) (param $n i32)
    (local $j i32) (local $nb i32) (local $n4 i32) (local $va v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (local.set $va (f32x4.splat (local.get $a)))
    (block $v_done
      (loop $v_loop
        (br_if $v_done (i32.ge_u (local.get $j) (local.get $n4)))
        (v128.store (i32.add (local.get $y) (local.get $j))
          (f32x4.add (v128.load (i32.add (local.get $y) (local.get $j))) (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $x) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $v_loop)))
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.ge_u (local.get $j) (local.get $nb)))
        (f32.store (i32.add (local.get $y) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $y) (local.get $j))) (f32.mul (local.get $a) (f32.load (i32.add (local.get $x) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $s_loop))))

  ;; n bytes of zeros at p (the step arena's fresh arrays: a memset, where a typed array's fill
  ;; on shared memory goes element by element)
  (func (export "fill_zero") (param $p i32) (param $n i32)
    (memory.fill (local.get $p) (i32.const 0) (local.get $n)))
)
