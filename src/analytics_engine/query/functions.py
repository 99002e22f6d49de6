"""The functions a tenant's SQL may call: an allowlist of ClickHouse names, nothing else.

Only pure functions of their arguments are here: arithmetic, comparison, logic, strings, dates,
arrays, maps, tuples, JSON, hashes, type conversion, conditionals, aggregates (with the usual
combinators) and window functions. Nothing that reads a file, a URL, another table, a dictionary,
a setting, the host or the server (`file`, `url`, `s3`, `remote`, `merge`, `input`, `dictGet*`,
`joinGet`, `getSetting`, `currentDatabase`, `hostName`, `version`, `*Cluster`, ...), and no table
functions at all: those are refused wherever they appear, not looked up here.

Names are matched exactly (ClickHouse's own spelling, case included); sqlglot turns the standard
ones it knows (`count`, `sum`, `lower`, `if`...) into typed expressions, which the guard allows by
class (`ALLOWED_FUNCTION_CLASSES` in guard.py).
"""

from __future__ import annotations

_ARITHMETIC = """
plus minus multiply divide intDiv intDivOrZero modulo moduloOrZero positiveModulo negate abs gcd lcm
exp log ln exp2 log2 exp10 log10 sqrt cbrt pow power sin cos tan asin acos atan atan2 sinh cosh tanh
sign round roundBankers floor ceil ceiling trunc truncate roundToExp2 roundDown e pi erf erfc
least greatest isFinite isInfinite isNaN ifNotFinite
bitAnd bitOr bitXor bitNot bitShiftLeft bitShiftRight bitTest bitCount
"""

_LOGIC = """
and or not xor if multiIf coalesce ifNull nullIf isNull isNotNull assumeNotNull toNullable isZeroOrNull
equals notEquals less greater lessOrEquals greaterOrEquals
"""

_CONVERSION = """
toInt8 toInt16 toInt32 toInt64 toInt128 toInt256 toUInt8 toUInt16 toUInt32 toUInt64 toUInt128 toUInt256
toInt8OrZero toInt16OrZero toInt32OrZero toInt64OrZero toUInt8OrZero toUInt16OrZero toUInt32OrZero
toUInt64OrZero toInt32OrNull toInt64OrNull toUInt32OrNull toUInt64OrNull toInt8OrNull toUInt8OrNull
toFloat32 toFloat64 toFloat32OrZero toFloat64OrZero toFloat32OrNull toFloat64OrNull
toDecimal32 toDecimal64 toDecimal128 toDecimal32OrNull toDecimal64OrNull toDecimal128OrNull
toString toFixedString toBool toUUID toUUIDOrNull toUUIDOrZero reinterpretAsString
toDate toDate32 toDateOrNull toDateOrZero toDate32OrNull toDateTime toDateTime64 toDateTimeOrNull
toDateTimeOrZero toDateTime64OrNull parseDateTimeBestEffort parseDateTimeBestEffortOrNull
parseDateTimeBestEffortOrZero parseDateTime64BestEffort parseDateTime64BestEffortOrNull parseDateTime
parseDateTimeOrNull toTypeName toLowCardinality accurateCast accurateCastOrNull
toIntervalSecond toIntervalMinute toIntervalHour toIntervalDay toIntervalWeek toIntervalMonth
toIntervalQuarter toIntervalYear
"""

_DATES = """
now now64 today yesterday toTimeZone toYear toQuarter toMonth toDayOfYear toDayOfMonth toDayOfWeek
toHour toMinute toSecond toUnixTimestamp toUnixTimestamp64Milli fromUnixTimestamp fromUnixTimestamp64Milli
toStartOfYear toStartOfQuarter toStartOfMonth toMonday toStartOfWeek toStartOfDay toStartOfHour
toStartOfMinute toStartOfFiveMinutes toStartOfFifteenMinutes toStartOfTenMinutes toStartOfInterval
toLastDayOfMonth toLastDayOfWeek toStartOfISOYear toISOYear toISOWeek toWeek toYearWeek toYYYYMM
toYYYYMMDD toYYYYMMDDhhmmss toRelativeDayNum toRelativeWeekNum toRelativeMonthNum toRelativeHourNum
toDaysSinceYearZero date_diff dateDiff age dateTrunc date_trunc dateAdd date_add dateSub date_sub
addSeconds addMinutes addHours addDays addWeeks addMonths addQuarters addYears subtractSeconds
subtractMinutes subtractHours subtractDays subtractWeeks subtractMonths subtractQuarters subtractYears
timeSlot timeSlots formatDateTime formatDateTimeInJodaSyntax dateName monthName makeDate makeDateTime
timestamp_add timestamp_sub timeDiff toTime
"""

_STRINGS = """
length empty notEmpty lengthUTF8 char_length lower upper lowerUTF8 upperUTF8 reverse reverseUTF8
concat concatWithSeparator substring substr substringUTF8 left right leftUTF8 rightUTF8 trim trimLeft
trimRight trimBoth ltrim rtrim leftPad rightPad lpad rpad repeat space format position locate
positionCaseInsensitive positionUTF8 startsWith endsWith like notLike ilike notILike match
multiMatchAny extract extractAll extractGroups replaceOne replaceAll replaceRegexpOne replaceRegexpAll
splitByChar splitByString splitByRegexp splitByWhitespace arrayStringConcat countSubstrings
base64Encode base64Decode tryBase64Decode hex unhex lowerUTF8 normalizeUTF8NFC toValidUTF8 initcap
domain domainWithoutWWW topLevelDomain protocol path pathFull queryString fragment
extractURLParameter extractURLParameters cutQueryString cutWWW cutFragment decodeURLComponent
encodeURLComponent netloc
"""

_HASHES = """
cityHash64 sipHash64 sipHash128 xxHash32 xxHash64 farmHash64 murmurHash2_64 murmurHash3_64 MD5 SHA1
SHA256 halfMD5 intHash32 intHash64 generateUUIDv4 rand rand32 rand64 randCanonical
"""

_ARRAYS = """
array range arrayConcat arrayElement has hasAll hasAny indexOf countEqual arrayCount arrayExists
arrayAll arrayMap arrayFilter arrayFirst arrayLast arrayFirstIndex arraySum arrayAvg arrayMin arrayMax
arrayProduct arraySort arrayReverseSort arrayReverse arrayDistinct arrayUniq arrayEnumerate
arrayEnumerateUniq arrayPushBack arrayPushFront arrayPopBack arrayPopFront arraySlice arrayZip
arrayFlatten arrayCompact arrayIntersect arrayCumSum arrayDifference arrayJoin
arrayStringConcat arrayResize arrayFill arrayShuffle length emptyArrayString emptyArrayUInt64
arrayPartialSort has hasSubstr arrayFold arraySplit arrayWithConstant
tuple tupleElement untuple map mapKeys mapValues mapContains
"""

_JSON = """
JSONExtract JSONExtractString JSONExtractInt JSONExtractUInt JSONExtractFloat JSONExtractBool
JSONExtractRaw JSONExtractArrayRaw JSONExtractKeys JSONExtractKeysAndValues JSONHas JSONLength
JSONType isValidJSON toJSONString simpleJSONExtractString simpleJSONExtractInt simpleJSONExtractFloat
simpleJSONHas JSONAllPaths JSONDynamicPaths dynamicType
"""

# Plain aggregate functions; each may also carry the combinators below (sumIf, uniqMerge, ...).
AGGREGATES = """
count sum avg min max any anyLast anyHeavy argMin argMax uniq uniqExact uniqCombined uniqCombined64
uniqHLL12 uniqTheta groupArray groupUniqArray groupArraySample groupArraySorted groupBitOr groupBitAnd
groupBitXor median medianExact quantile quantiles quantileExact quantilesExact quantileTiming
quantileTDigest quantilesTDigest quantileDeterministic stddevPop stddevSamp varPop varSamp covarPop
covarSamp corr topK topKWeighted sumWithOverflow sumMap minMap maxMap avgWeighted windowFunnel
retention sequenceMatch sequenceCount histogram simpleLinearRegression entropy skewPop kurtPop
first_value last_value any_value boundingRatio rankCorr exponentialMovingAverage
"""

COMBINATORS = ("If", "Array", "Distinct", "OrNull", "OrDefault", "Merge", "State", "ForEach", "MergeState")

_WINDOW = """
row_number rank dense_rank percent_rank cume_dist ntile lagInFrame leadInFrame nth_value
"""


def _names(*blocks: str) -> frozenset[str]:
    return frozenset(name for block in blocks for name in block.split())


AGGREGATE_NAMES = _names(AGGREGATES)
ALLOWED_FUNCTIONS: frozenset[str] = (
    _names(_ARITHMETIC, _LOGIC, _CONVERSION, _DATES, _STRINGS, _HASHES, _ARRAYS, _JSON, _WINDOW)
    | AGGREGATE_NAMES
    | frozenset(base + suffix for base in AGGREGATE_NAMES for suffix in COMBINATORS)
    | frozenset(base + "If" + suffix for base in AGGREGATE_NAMES for suffix in ("State", "Merge", "OrNull"))
)
