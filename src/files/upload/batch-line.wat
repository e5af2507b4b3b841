;; The batch line reader's fast path (batch-line-scan.ts has the reader and its contract): one
;; pass over a request line in WebAssembly, the token walk and the string scan both, so a line
;; costs one call from JavaScript instead of one per string (measured on the batch benchmark's
;; 2 KB chat lines: see BENCHMARKS.md, 2026-12-03 evening). Compiled by `npm run build:wasm` into
;; batch-line.wasm.ts, which a unit test holds to this file.
;;
;; Memory: the line at offset 0 (the caller copies it there), a stack of open containers and
;; the answer after it, at the offsets the exported globals give. `readLine` writes a 0 byte
;; just after the line, so no token runs past it; the string scan's 16-byte loads may read up
;; to 15 bytes past the line, never taken for the string's.
(module
  (memory (export "memory") 18)

  ;; The most a line may take: 17 pages less the string scan's slack.
  (global $MAX_LINE_BYTES (export "maxLineBytes") i32 (i32.const 1114096))
  ;; Open containers, 24 bytes each ($frame): ctx, 1 if an object, items so far, the item index
  ;; `[i]`, the role of a container the check reads and where it starts.
  (global $STACK i32 (i32.const 1114112))
  (global $MAX_DEPTH i32 (i32.const 512))
  ;; The answer (i32s): custom_id's content range and escape flag; method, url and model as
  ;; token ranges (start -1: the last one was not a string) with escape flags; the span count;
  ;; then the spans, five i32s each: start, end, path, i, j.
  (global $ANSWER (export "answer") i32 (i32.const 1126400))
  (global $SPANS i32 (i32.const 1126464))
  (global $MAX_SPANS (export "maxSpans") i32 (i32.const 2048))

  ;; Contexts and roles: batch-line-scan.ts's Ctx and Role, the same numbers.
  ;; Ctx: other 0, top 1, body 2, chatItems 3, inputItems 4, chatItem 5, inputItem 6,
  ;;      chatParts 7, inputParts 8, chatPart 9, inputPart 10, chatFile 11.
  ;; Role: none 0, customId 1, method 2, url 3, body 4, model 5, fileId 6.
  ;; Span paths (SpanPaths): customId 0, model 1, chatFile 2, inputItem 3, inputPart 4.

  (global $end (mut i32) (i32.const 0))
  (global $depth (mut i32) (i32.const -1))
  (global $role (mut i32) (i32.const 0))
  (global $opens (mut i32) (i32.const 0))
  (global $objectOpens (mut i32) (i32.const 1))
  (global $hasCustomId (mut i32) (i32.const 0))
  (global $bodyIsObject (mut i32) (i32.const 0))
  (global $spans (mut i32) (i32.const 0))
  ;; Set when the line needs the JavaScript reader: too deep, too many spans, an escaped key
  ;; where keys matter.
  (global $fallback (mut i32) (i32.const 0))

  ;; The line `[0, end)` already in memory: 1 if it is a request (the answer says what it
  ;; found), 0 if it is not, 2 if the JavaScript reader must read it.
  (func (export "readLine") (param $end i32) (result i32)
    (local $i i32)
    (local $c i32)
    (local $start i32)
    (local $role i32)
    (local $isObject i32)
    (local $ctx i32)
    (local $found i32)
    (local $escaped i32)
    (local $d i32)
    (local $next i32)
    (local $f i32)
    (global.set $end (local.get $end))
    (i32.store8 (local.get $end) (i32.const 0))
    (global.set $depth (i32.const -1))
    (global.set $role (i32.const 0))
    (global.set $opens (i32.const 0))
    (global.set $objectOpens (i32.const 1))
    (global.set $hasCustomId (i32.const 0))
    (global.set $bodyIsObject (i32.const 0))
    (global.set $spans (i32.const 0))
    (global.set $fallback (i32.const 0))
    (call $setField (i32.const 3) (i32.const -1))
    (call $setField (i32.const 6) (i32.const -1))
    (call $setField (i32.const 9) (i32.const -1))
    (block $fail
      (local.set $i (call $skipSpace (i32.const 0)))
      (br_if $fail (i32.ne (i32.load8_u (local.get $i)) (i32.const 0x7b)))
      (loop $value
        ;; A value at i.
        (local.set $c (i32.load8_u (local.get $i)))
        (local.set $start (local.get $i))
        (local.set $role (global.get $role))
        (if (i32.or (i32.eq (local.get $c) (i32.const 0x7b)) (i32.eq (local.get $c) (i32.const 0x5b)))
          (then
            (local.set $isObject (i32.eq (local.get $c) (i32.const 0x7b)))
            (if (i32.eq (local.get $role) (i32.const 4))
              (then (global.set $bodyIsObject (local.get $isObject)))
              (else
                (if (local.get $role)
                  (then (call $takeContainer (local.get $role))))))
            (local.set $ctx
              (select (global.get $objectOpens) (global.get $opens) (local.get $isObject)))
            (br_if $fail
              (i32.eqz
                (call $open (local.get $ctx) (local.get $isObject) (local.get $role) (local.get $start))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (if (i32.le_u (i32.load8_u (local.get $i)) (i32.const 0x20))
              (then (local.set $i (call $skipSpace (local.get $i)))))
            (if (i32.eq (i32.load8_u (local.get $i))
                        (select (i32.const 0x7d) (i32.const 0x5d) (local.get $isObject)))
              (then
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $fail (i32.eqz (call $close (local.get $i)))))
              (else
                (if (local.get $isObject)
                  (then
                    (local.set $i (call $member (local.get $i)))
                    (br_if $fail (i32.lt_s (local.get $i) (i32.const 0)))
                    (br $value)))
                (call $itemRole (local.get $ctx))
                (br $value))))
          (else
            (local.set $escaped (i32.const 0))
            (if (i32.eq (local.get $c) (i32.const 0x22))
              (then
                (local.set $found
                  (call $stringEnd (i32.add (local.get $i) (i32.const 1)) (global.get $end)))
                (br_if $fail (i32.lt_s (local.get $found) (i32.const 0)))
                (local.set $escaped (i32.and (local.get $found) (i32.const 1)))
                (local.set $i (i32.add (i32.shr_u (local.get $found) (i32.const 1)) (i32.const 1))))
              (else
                (local.set $i (call $literal (local.get $i) (local.get $c)))
                (br_if $fail (i32.lt_s (local.get $i) (i32.const 0)))))
            (if (local.get $role)
              (then
                (br_if $fail
                  (i32.eqz
                    (call $takeScalar
                      (local.get $role) (local.get $c) (local.get $start) (local.get $i)
                      (local.get $escaped) (global.get $depth))))))))
        ;; After a value: the container's next member or item, or its end.
        (loop $after
          (local.set $d (global.get $depth))
          (if (i32.lt_s (local.get $d) (i32.const 0))
            (then
              (br_if $fail (i32.ne (call $skipSpace (local.get $i)) (global.get $end)))
              (br_if $fail (i32.eqz (global.get $bodyIsObject)))
              (br_if $fail (i32.eqz (global.get $hasCustomId)))
              (br_if $fail (i32.lt_s (call $field (i32.const 3)) (i32.const 0)))
              (br_if $fail (i32.lt_s (call $field (i32.const 6)) (i32.const 0)))
              (br_if $fail (i32.lt_s (call $field (i32.const 9)) (i32.const 0)))
              (call $setField (i32.const 12) (global.get $spans))
              (return (i32.const 1))))
          (if (i32.le_u (i32.load8_u (local.get $i)) (i32.const 0x20))
            (then (local.set $i (call $skipSpace (local.get $i)))))
          (local.set $f (i32.add (global.get $STACK) (i32.mul (local.get $d) (i32.const 24))))
          (local.set $isObject (i32.load offset=4 (local.get $f)))
          (local.set $next (i32.load8_u (local.get $i)))
          (if (i32.eq (local.get $next) (i32.const 0x2c))
            (then
              (i32.store offset=8 (local.get $f) (i32.add (i32.load offset=8 (local.get $f)) (i32.const 1)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (if (i32.le_u (i32.load8_u (local.get $i)) (i32.const 0x20))
              (then (local.set $i (call $skipSpace (local.get $i)))))
              (if (local.get $isObject)
                (then
                  (local.set $i (call $member (local.get $i)))
                  (br_if $fail (i32.lt_s (local.get $i) (i32.const 0))))
                (else (call $itemRole (i32.load (local.get $f)))))
              (br $value)))
          (br_if $fail
            (i32.ne (local.get $next) (select (i32.const 0x7d) (i32.const 0x5d) (local.get $isObject))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $fail (i32.eqz (call $close (local.get $i))))
          (br $after))))
    (select (i32.const 2) (i32.const 0) (global.get $fallback)))

  (func $field (param $k i32) (result i32)
    (i32.load (i32.add (global.get $ANSWER) (i32.shl (local.get $k) (i32.const 2)))))

  (func $setField (param $k i32) (param $value i32)
    (i32.store (i32.add (global.get $ANSWER) (i32.shl (local.get $k) (i32.const 2))) (local.get $value)))

  ;; The stack frame of depth `d`.
  (func $frame (param $d i32) (result i32)
    (i32.add (global.get $STACK) (i32.mul (local.get $d) (i32.const 24))))

  (func $skipSpace (param $i i32) (result i32)
    (local $c i32)
    (block $done
      (loop $next
        (local.set $c (i32.load8_u (local.get $i)))
        (br_if $done
          (i32.and
            (i32.and (i32.ne (local.get $c) (i32.const 0x20)) (i32.ne (local.get $c) (i32.const 0x09)))
            (i32.and (i32.ne (local.get $c) (i32.const 0x0d)) (i32.ne (local.get $c) (i32.const 0x0a)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i))

  ;; `true`, `false`, `null` or a number at `$i` (first byte `$c`): the offset after it, or -1.
  ;; The 0 after the line stops every comparison at the line's end.
  (func $literal (param $i i32) (param $c i32) (result i32)
    (if (i32.eq (local.get $c) (i32.const 0x74))
      (then
        (return
          (select (i32.add (local.get $i) (i32.const 4)) (i32.const -1)
            (call $spells (local.get $i) (i32.const 0x65757274) (i32.const 4))))))
    (if (i32.eq (local.get $c) (i32.const 0x66))
      (then
        (return
          (select (i32.add (local.get $i) (i32.const 5)) (i32.const -1)
            (i32.and
              (call $spells (local.get $i) (i32.const 0x736c6166) (i32.const 4))
              (i32.eq (i32.load8_u offset=4 (local.get $i)) (i32.const 0x65)))))))
    (if (i32.eq (local.get $c) (i32.const 0x6e))
      (then
        (return
          (select (i32.add (local.get $i) (i32.const 4)) (i32.const -1)
            (call $spells (local.get $i) (i32.const 0x6c6c756e) (i32.const 4))))))
    (call $number (local.get $i)))

  ;; Whether the `$n` (≤ 4) bytes at `$i` are the little-endian bytes of `$word`, compared byte
  ;; by byte up to the first that differs (so never past the 0 after the line).
  (func $spells (param $i i32) (param $word i32) (param $n i32) (result i32)
    (local $k i32)
    (block $no
      (loop $next
        (br_if $no
          (i32.ne (i32.load8_u (i32.add (local.get $i) (local.get $k)))
                  (i32.and (i32.shr_u (local.get $word) (i32.shl (local.get $k) (i32.const 3)))
                           (i32.const 0xff))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $next (i32.lt_u (local.get $k) (local.get $n))))
      (return (i32.const 1)))
    (i32.const 0))

  (func $isDigit (param $c i32) (result i32)
    (i32.lt_u (i32.sub (local.get $c) (i32.const 0x30)) (i32.const 10)))

  (func $digits (param $i i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (call $isDigit (i32.load8_u (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i))

  ;; A JSON number from `$i`: the offset after it, or -1 (RFC 8259's grammar, as JSON.parse's).
  (func $number (param $i i32) (result i32)
    (local $c i32)
    (if (i32.eq (i32.load8_u (local.get $i)) (i32.const 0x2d))
      (then (local.set $i (i32.add (local.get $i) (i32.const 1)))))
    (local.set $c (i32.load8_u (local.get $i)))
    (if (i32.eq (local.get $c) (i32.const 0x30))
      (then (local.set $i (i32.add (local.get $i) (i32.const 1))))
      (else
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 0x31)) (i32.const 9))
          (then (local.set $i (call $digits (local.get $i))))
          (else (return (i32.const -1))))))
    (if (i32.eq (i32.load8_u (local.get $i)) (i32.const 0x2e))
      (then
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (call $isDigit (i32.load8_u (local.get $i)))) (then (return (i32.const -1))))
        (local.set $i (call $digits (local.get $i)))))
    (local.set $c (i32.load8_u (local.get $i)))
    (if (i32.or (i32.eq (local.get $c) (i32.const 0x65)) (i32.eq (local.get $c) (i32.const 0x45)))
      (then
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $c (i32.load8_u (local.get $i)))
        (if (i32.or (i32.eq (local.get $c) (i32.const 0x2b)) (i32.eq (local.get $c) (i32.const 0x2d)))
          (then (local.set $i (i32.add (local.get $i) (i32.const 1)))))
        (if (i32.eqz (call $isDigit (i32.load8_u (local.get $i)))) (then (return (i32.const -1))))
        (local.set $i (call $digits (local.get $i)))))
    (local.get $i))

  ;; A container opens as the value of `$role` (not body): the field it is is not a string.
  (func $takeContainer (param $role i32)
    (if (i32.eq (local.get $role) (i32.const 1)) (then (global.set $hasCustomId (i32.const 0))))
    (if (i32.eq (local.get $role) (i32.const 2)) (then (call $setField (i32.const 3) (i32.const -1))))
    (if (i32.eq (local.get $role) (i32.const 3)) (then (call $setField (i32.const 6) (i32.const -1))))
    (if (i32.eq (local.get $role) (i32.const 5)) (then (call $setField (i32.const 9) (i32.const -1)))))

  ;; A scalar `[start, end)` (first byte `$c`) as the value of `$role`, in the container at depth
  ;; `$d`: 0 when the spans are full.
  (func $takeScalar (param $role i32) (param $c i32) (param $start i32) (param $end i32)
    (param $escaped i32) (param $d i32) (result i32)
    (local $isString i32)
    (local.set $isString (i32.eq (local.get $c) (i32.const 0x22)))
    (if (i32.eq (local.get $role) (i32.const 6))
      (then (return (call $fileIdSpan (local.get $start) (local.get $end) (local.get $d)))))
    (if (i32.eq (local.get $role) (i32.const 1))
      (then
        (global.set $hasCustomId (local.get $isString))
        (call $setField (i32.const 0) (i32.add (local.get $start) (i32.const 1)))
        (call $setField (i32.const 1) (i32.sub (local.get $end) (i32.const 1)))
        (call $setField (i32.const 2) (local.get $escaped))
        (return
          (call $span (local.get $start) (local.get $end) (i32.const 0) (i32.const 0) (i32.const 0)))))
    (if (i32.eq (local.get $role) (i32.const 2))
      (then (call $token (i32.const 3) (local.get $isString) (local.get $start) (local.get $end) (local.get $escaped))))
    (if (i32.eq (local.get $role) (i32.const 3))
      (then (call $token (i32.const 6) (local.get $isString) (local.get $start) (local.get $end) (local.get $escaped))))
    (if (i32.eq (local.get $role) (i32.const 5))
      (then
        (call $token (i32.const 9) (local.get $isString) (local.get $start) (local.get $end) (local.get $escaped))
        (return
          (call $span (local.get $start) (local.get $end) (i32.const 1) (i32.const 0) (i32.const 0)))))
    (i32.const 1))

  ;; A field kept as its token's range at answer slot `$k` (start -1 if not a string).
  (func $token (param $k i32) (param $isString i32) (param $start i32) (param $end i32) (param $escaped i32)
    (call $setField (local.get $k) (select (local.get $start) (i32.const -1) (local.get $isString)))
    (call $setField (i32.add (local.get $k) (i32.const 1)) (local.get $end))
    (call $setField (i32.add (local.get $k) (i32.const 2)) (local.get $escaped)))

  ;; Appends a span: 0 when the spans are full (the line then falls back).
  (func $span (param $start i32) (param $end i32) (param $path i32) (param $i i32) (param $j i32)
    (result i32)
    (local $at i32)
    (if (i32.ge_u (global.get $spans) (global.get $MAX_SPANS))
      (then
        (global.set $fallback (i32.const 1))
        (return (i32.const 0))))
    (local.set $at (i32.add (global.get $SPANS) (i32.mul (global.get $spans) (i32.const 20))))
    (i32.store (local.get $at) (local.get $start))
    (i32.store offset=4 (local.get $at) (local.get $end))
    (i32.store offset=8 (local.get $at) (local.get $path))
    (i32.store offset=12 (local.get $at) (local.get $i))
    (i32.store offset=16 (local.get $at) (local.get $j))
    (global.set $spans (i32.add (global.get $spans) (i32.const 1)))
    (i32.const 1))

  ;; The span of a file id in the container at depth `$d`, `[i]` and `[j]` from the open ones.
  (func $fileIdSpan (param $start i32) (param $end i32) (param $d i32) (result i32)
    (local $ctx i32)
    (local $part i32)
    (local.set $ctx (i32.load (call $frame (local.get $d))))
    (if (i32.eq (local.get $ctx) (i32.const 6))
      (then
        (return
          (call $span (local.get $start) (local.get $end) (i32.const 3)
            (i32.load offset=8 (call $frame (i32.sub (local.get $d) (i32.const 1))))
            (i32.const 0)))))
    ;; A part's file id (inputPart), or a chat part's file's (chatFile, one level deeper).
    (local.set $part
      (select (i32.sub (local.get $d) (i32.const 1)) (local.get $d)
        (i32.eq (local.get $ctx) (i32.const 11))))
    (call $span (local.get $start) (local.get $end)
      (select (i32.const 2) (i32.const 4) (i32.eq (local.get $ctx) (i32.const 11)))
      (i32.load offset=12 (call $frame (local.get $part)))
      (i32.load offset=8 (call $frame (i32.sub (local.get $part) (i32.const 1))))))

  ;; Opens a container: 0 when the stack is full (the line then falls back).
  (func $open (param $ctx i32) (param $isObject i32) (param $role i32) (param $start i32)
    (result i32)
    (local $parent i32)
    (local $d i32)
    (local $f i32)
    (local.set $parent (global.get $depth))
    (local.set $d (i32.add (local.get $parent) (i32.const 1)))
    (if (i32.ge_s (local.get $d) (global.get $MAX_DEPTH))
      (then
        (global.set $fallback (i32.const 1))
        (return (i32.const 0))))
    (global.set $depth (local.get $d))
    (local.set $f (call $frame (local.get $d)))
    (i32.store (local.get $f) (local.get $ctx))
    (i32.store offset=4 (local.get $f) (local.get $isObject))
    (i32.store offset=8 (local.get $f) (i32.const 0))
    (i32.store offset=16 (local.get $f)
      (select (local.get $role) (i32.const 0)
        (i32.or
          (i32.or (i32.eq (local.get $role) (i32.const 1)) (i32.eq (local.get $role) (i32.const 5)))
          (i32.eq (local.get $role) (i32.const 6)))))
    (i32.store offset=20 (local.get $f) (local.get $start))
    ;; An item of `messages` or `input` is `[i]`; what is below it inherits that index.
    (i32.store offset=12 (local.get $f)
      (if (result i32) (i32.lt_s (local.get $parent) (i32.const 0))
        (then (i32.const 0))
        (else
          (if (result i32)
            (i32.or (i32.eq (local.get $ctx) (i32.const 5)) (i32.eq (local.get $ctx) (i32.const 6)))
            (then (i32.load offset=8 (call $frame (local.get $parent))))
            (else (i32.load offset=12 (call $frame (local.get $parent))))))))
    (i32.const 1))

  ;; The innermost container closed just before `$end`; a value the check reads gets its range.
  ;; 0 when the spans are full.
  (func $close (param $end i32) (result i32)
    (local $d i32)
    (local $role i32)
    (local $start i32)
    (local.set $d (global.get $depth))
    (global.set $depth (i32.sub (local.get $d) (i32.const 1)))
    (local.set $role (i32.load offset=16 (call $frame (local.get $d))))
    (if (i32.eqz (local.get $role)) (then (return (i32.const 1))))
    (local.set $start (i32.load offset=20 (call $frame (local.get $d))))
    (if (i32.eq (local.get $role) (i32.const 6))
      (then
        (return
          (call $fileIdSpan (local.get $start) (local.get $end) (i32.sub (local.get $d) (i32.const 1))))))
    (call $span (local.get $start) (local.get $end)
      (select (i32.const 1) (i32.const 0) (i32.eq (local.get $role) (i32.const 5)))
      (i32.const 0) (i32.const 0)))

  (func $set (param $role i32) (param $opens i32) (param $objectOpens i32)
    (global.set $role (local.get $role))
    (global.set $opens (local.get $opens))
    (global.set $objectOpens (local.get $objectOpens)))

  ;; What the items of an array of context `$ctx` are.
  (func $itemRole (param $ctx i32)
    (call $set (i32.const 0) (i32.const 0)
      (if (result i32) (i32.eq (local.get $ctx) (i32.const 3))
        (then (i32.const 5))
        (else
          (if (result i32) (i32.eq (local.get $ctx) (i32.const 4))
            (then (i32.const 6))
            (else
              (if (result i32) (i32.eq (local.get $ctx) (i32.const 7))
                (then (i32.const 9))
                (else (select (i32.const 10) (i32.const 0) (i32.eq (local.get $ctx) (i32.const 8)))))))))))

  ;; The key at `$k` and its colon: sets what its value is and returns the value's offset; -1
  ;; when the grammar fails or (with $fallback set) the key is escaped where keys matter.
  (func $member (param $k i32) (result i32)
    (local $found i32)
    (local $keyEnd i32)
    (local $colon i32)
    (local $ctx i32)
    (if (i32.ne (i32.load8_u (local.get $k)) (i32.const 0x22)) (then (return (i32.const -1))))
    (local.set $found (call $stringEnd (i32.add (local.get $k) (i32.const 1)) (global.get $end)))
    (if (i32.lt_s (local.get $found) (i32.const 0)) (then (return (i32.const -1))))
    (local.set $ctx (i32.load (call $frame (global.get $depth))))
    (local.set $keyEnd (i32.add (i32.shr_u (local.get $found) (i32.const 1)) (i32.const 1)))
    (local.set $colon (local.get $keyEnd))
            (if (i32.le_u (i32.load8_u (local.get $colon)) (i32.const 0x20))
              (then (local.set $colon (call $skipSpace (local.get $colon)))))
    (if (i32.ne (i32.load8_u (local.get $colon)) (i32.const 0x3a)) (then (return (i32.const -1))))
    (if (i32.and (local.get $found) (i32.const 1))
      (then
        (if (local.get $ctx)
          (then
            ;; "mod\u0065l" is `model` to every JSON reader: the JavaScript reader decodes it.
            (global.set $fallback (i32.const 1))
            (return (i32.const -1))))
        (call $set (i32.const 0) (i32.const 0) (i32.const 0)))
      (else
        (call $memberRole (local.get $ctx) (i32.add (local.get $k) (i32.const 1))
          (i32.sub (i32.sub (local.get $keyEnd) (local.get $k)) (i32.const 2)))))
    (if (i32.eq (global.get $role) (i32.const 4))
      (then
        ;; JSON.parse keeps the last `body`: its model is the one that counts.
        (call $setField (i32.const 9) (i32.const -1))
        (global.set $bodyIsObject (i32.const 0))))
    (local.set $colon (i32.add (local.get $colon) (i32.const 1)))
    (if (result i32) (i32.le_u (i32.load8_u (local.get $colon)) (i32.const 0x20))
      (then (call $skipSpace (local.get $colon)))
      (else (local.get $colon))))

  ;; The key `[$f, $f + $n)` is a name the check follows, compared as little-endian words (one
  ;; or two loads per name, never past the key: a name is compared only at its own length).
  (func $isBody (param $f i32) (param $n i32) (result i32)
    (i32.and (i32.eq (local.get $n) (i32.const 4)) (i32.eq (i32.load (local.get $f)) (i32.const 0x79646f62))))
  (func $isFile (param $f i32) (param $n i32) (result i32)
    (i32.and (i32.eq (local.get $n) (i32.const 4)) (i32.eq (i32.load (local.get $f)) (i32.const 0x656c6966))))
  (func $isFileId (param $f i32) (param $n i32) (result i32)
    (if (result i32) (i32.ne (local.get $n) (i32.const 7)) (then (i32.const 0))
      (else
        (i32.and (i32.eq (i32.load (local.get $f)) (i32.const 0x656c6966))
                 (i32.eq (i32.load offset=3 (local.get $f)) (i32.const 0x64695f65))))))
  (func $isContent (param $f i32) (param $n i32) (result i32)
    (if (result i32) (i32.ne (local.get $n) (i32.const 7)) (then (i32.const 0))
      (else
        (i32.and (i32.eq (i32.load (local.get $f)) (i32.const 0x746e6f63))
                 (i32.eq (i32.load offset=3 (local.get $f)) (i32.const 0x746e6574))))))

  ;; What the value of the key `[$f, $f + $n)` is in a member of context `$ctx`.
  (func $memberRole (param $ctx i32) (param $f i32) (param $n i32)
    (global.set $role (i32.const 0))
    (global.set $opens (i32.const 0))
    (global.set $objectOpens (i32.const 0))
    (block $done
      (if (i32.eq (local.get $ctx) (i32.const 1))
        (then
          (if (call $isBody (local.get $f) (local.get $n))
            (then
              (global.set $role (i32.const 4))
              (global.set $objectOpens (i32.const 2))
              (br $done)))
          (if (i32.eq (local.get $n) (i32.const 9))
            (then
              (if (i32.and (i64.eq (i64.load (local.get $f)) (i64.const 0x695f6d6f74737563))
                           (i32.eq (i32.load8_u offset=8 (local.get $f)) (i32.const 0x64)))
                (then (global.set $role (i32.const 1))))
              (br $done)))
          (if (i32.eq (local.get $n) (i32.const 6))
            (then
              (if (i32.and (i32.eq (i32.load (local.get $f)) (i32.const 0x6874656d))
                           (i32.eq (i32.load16_u offset=4 (local.get $f)) (i32.const 0x646f)))
                (then (global.set $role (i32.const 2))))
              (br $done)))
          (if (i32.eq (local.get $n) (i32.const 3))
            (then
              (if (i32.and (i32.eq (i32.load16_u (local.get $f)) (i32.const 0x7275))
                           (i32.eq (i32.load8_u offset=2 (local.get $f)) (i32.const 0x6c)))
                (then (global.set $role (i32.const 3))))))
          (br $done)))
      (if (i32.eq (local.get $ctx) (i32.const 2))
        (then
          (if (i32.eq (local.get $n) (i32.const 5))
            (then
              (local.set $n (i32.load8_u offset=4 (local.get $f)))
              (local.set $f (i32.load (local.get $f)))
              (if (i32.and (i32.eq (local.get $f) (i32.const 0x65646f6d)) (i32.eq (local.get $n) (i32.const 0x6c)))
                (then (global.set $role (i32.const 5))))
              (if (i32.and (i32.eq (local.get $f) (i32.const 0x75706e69)) (i32.eq (local.get $n) (i32.const 0x74)))
                (then (global.set $opens (i32.const 4))))
              (br $done)))
          (if (i32.eq (local.get $n) (i32.const 8))
            (then
              (if (i64.eq (i64.load (local.get $f)) (i64.const 0x736567617373656d))
                (then (global.set $opens (i32.const 3))))))
          (br $done)))
      (if (i32.eq (local.get $ctx) (i32.const 5))
        (then
          (if (call $isContent (local.get $f) (local.get $n))
            (then (global.set $opens (i32.const 7))))
          (br $done)))
      (if (i32.eq (local.get $ctx) (i32.const 6))
        (then
          (if (call $isFileId (local.get $f) (local.get $n))
            (then
              (global.set $role (i32.const 6))
              (br $done)))
          (if (call $isContent (local.get $f) (local.get $n))
            (then (global.set $opens (i32.const 8))))
          (br $done)))
      (if (i32.eq (local.get $ctx) (i32.const 9))
        (then
          (if (call $isFile (local.get $f) (local.get $n))
            (then (global.set $objectOpens (i32.const 11))))
          (br $done)))
      (if (i32.or (i32.eq (local.get $ctx) (i32.const 10)) (i32.eq (local.get $ctx) (i32.const 11)))
        (then
          (if (call $isFileId (local.get $f) (local.get $n))
            (then (global.set $role (i32.const 6))))))))

  ;; The string whose content starts at `$i` (just after its opening quote) and must end before
  ;; `$end`: the offset of its closing quote times two, plus 1 if it has an escape; -1 if it is
  ;; not a JSON string (a control byte, an escape JSON does not have, or no closing quote). The
  ;; same contract, and the same answers, as the JavaScript loop `stringEndInJs` (json-string.ts),
  ;; 16 bytes at a time (WebAssembly SIMD).
  (func $stringEnd (export "stringEnd") (param $i i32) (param $end i32) (result i32)
    (local $v v128)
    (local $hits i32)
    (local $c i32)
    (local $escaped i32)
    (loop $scan
      (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (i32.const -1))))
      ;; One bit per byte that ends a run of plain characters: '"', '\' or below 0x20.
      (local.set $v (v128.load (local.get $i)))
      (local.set $hits
        (i8x16.bitmask
          (v128.or
            (v128.or
              (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))
              (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92)))
            (i8x16.lt_u (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32)))))
      (if (i32.eqz (local.get $hits))
        (then
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $scan)))
      (local.set $i (i32.add (local.get $i) (i32.ctz (local.get $hits))))
      (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (i32.const -1))))
      (local.set $c (i32.load8_u (local.get $i)))
      (if (i32.eq (local.get $c) (i32.const 34))
        (then (return (i32.or (i32.shl (local.get $i) (i32.const 1)) (local.get $escaped)))))
      (if (i32.lt_u (local.get $c) (i32.const 32)) (then (return (i32.const -1))))
      ;; A backslash: \uXXXX, or one of " \ / b f n r t.
      (local.set $escaped (i32.const 1))
      (if (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $end))
        (then (return (i32.const -1))))
      (local.set $c (i32.load8_u offset=1 (local.get $i)))
      (if (i32.eq (local.get $c) (i32.const 117))
        (then
          (if (i32.ge_u (i32.add (local.get $i) (i32.const 5)) (local.get $end))
            (then (return (i32.const -1))))
          (if (i32.eqz (call $hex4 (i32.add (local.get $i) (i32.const 2))))
            (then (return (i32.const -1))))
          (local.set $i (i32.add (local.get $i) (i32.const 6)))
          (br $scan)))
      (if (i32.or
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
              (i32.or (i32.eq (local.get $c) (i32.const 47)) (i32.eq (local.get $c) (i32.const 98))))
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 102)) (i32.eq (local.get $c) (i32.const 110)))
              (i32.or (i32.eq (local.get $c) (i32.const 114)) (i32.eq (local.get $c) (i32.const 116)))))
        (then
          (local.set $i (i32.add (local.get $i) (i32.const 2)))
          (br $scan)))
      (return (i32.const -1)))
    (unreachable))

  ;; 1 if the four bytes at `$at` are hex digits, else 0.
  (func $hex4 (param $at i32) (result i32)
    (local $k i32)
    (local $c i32)
    (block $bad
      (loop $next
        (local.set $c (i32.load8_u (i32.add (local.get $at) (local.get $k))))
        ;; Neither 0-9 nor a-f / A-F.
        (br_if $bad
          (i32.and
            (i32.ge_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10))
            (i32.ge_u (i32.sub (i32.or (local.get $c) (i32.const 32)) (i32.const 97)) (i32.const 6))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $next (i32.lt_u (local.get $k) (i32.const 4))))
      (return (i32.const 1)))
    (i32.const 0)))
