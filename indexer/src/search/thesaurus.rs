//! A curated domain thesaurus that closes the vocabulary gap between how tools describe
//! themselves ("convert between IANA time zones") and how agents ask ("what time is it in
//! Tokyo").
//!
//! Each entry is a domain: words whose presence in a function's name, docs or types says the
//! function belongs to it (`triggers`), and the words people use when asking for that domain
//! (`terms`: synonyms, common instances, everyday phrasing). At index time a function that
//! mentions a trigger gets the domain's terms as extra, lower-weighted text. Entries describe
//! domains in general; they must never be written for one particular query.

/// One domain: trigger words (matched as analyzed stems) and the words it adds.
pub(crate) struct Domain {
    pub triggers: &'static [&'static str],
    pub terms: &'static str,
}

macro_rules! domains {
    ($( [$($t:literal),+ $(,)?] => $terms:literal ),+ $(,)?) => {
        &[$( Domain { triggers: &[$($t),+], terms: $terms } ),+]
    };
}

/// The thesaurus, grouped loosely by area.
pub(crate) const DOMAINS: &[Domain] = domains![
    // Time and dates.
    ["timezone", "iana", "tz", "zone"] => "timezone time zone zones tz clock local offset utc gmt dst daylight saving \
        tokyo london paris berlin sydney new york los angeles singapore dubai mumbai pst est cet jst world clock",
    ["calendar", "weekday", "leap"] => "calendar date dates day days week weekday monday friday weekend month year",
    ["duration"] => "duration elapsed span interval seconds minutes hours days human readable",
    ["holiday", "business"] => "holiday holidays vacation bank working workday weekday office closed",
    ["cron"] => "cron crontab schedule scheduled scheduler job jobs recurring periodic timer",
    ["sunrise", "sunset", "solar"] => "sunrise sunset dawn dusk daylight twilight sun",
    ["moon"] => "moon lunar full new phase",
    ["birthdate", "anniversary"] => "age old born birthday birth years",
    ["unix", "epoch"] => "epoch unix timestamp seconds posix",
    // Language.
    ["translate", "translation", "translator", "deepl"] => "translate translation translator language languages \
        foreign english german french spanish italian portuguese dutch polish russian japanese chinese korean arabic \
        hindi turkish localize localization multilingual",
    ["detect"] => "identify recognize guess",
    ["spelling", "misspelled", "misspelling", "hunspell", "autocorrect"] => "spelling spell checker typo typos \
        misspelled mistakes proofread correct grammar",
    ["summarize", "summarization", "tldr"] => "summary summarize tldr shorten short brief condense abstract gist digest",
    ["keyphrase", "rake"] => "keywords tags topics key terms",
    ["sentiment"] => "sentiment mood emotion feeling opinion tone positive negative happy angry sad satisfied review",
    ["dictionary", "definition", "synonym"] => "dictionary meaning means definition define word words synonym \
        synonyms antonym thesaurus similar",
    ["transliterate", "script", "cyrillic"] => "transliterate romanize latin alphabet cyrillic russian greek \
        chinese pinyin ascii",
    ["accent", "diacritic"] => "accents accent diacritics umlaut ascii plain letters",
    ["llm", "tokenizer"] => "tokens llm gpt openai tiktoken model prompt context window budget",
    ["chunk"] => "chunk chunks split pieces segments embedding embeddings rag retrieval vector",
    ["lorem"] => "lorem ipsum dummy filler placeholder sample mock mockup fake",
    ["fake"] => "fake dummy test data sample mock random person",
    ["template", "handlebar", "mustach"] => "template templating placeholders placeholder fill merge interpolate \
        variables mustache handlebars jinja render",
    ["similarity", "levenshtein", "jaro"] => "similarity similar fuzzy match compare closeness distance edit",
    ["readability", "reading"] => "readability reading time words",
    ["count"] => "count counting number total length",
    // Money.
    ["currency", "currencies", "exchange", "fx"] => "currency currencies money exchange rate forex fx dollar dollars \
        usd euro euros eur pound pounds sterling gbp yen jpy franc chf yuan cny rupee inr peso worth cost price",
    ["iban", "bic", "swift"] => "iban bank account number banking swift bic",
    ["vat", "tax"] => "vat tax taxes sales gst rate",
    ["loan", "mortgage", "interest"] => "loan mortgage interest payment payments installment amortization \
        borrow borrowing compound savings",
    ["stock", "ticker", "nasdaq"] => "stock stocks share shares ticker market nasdaq nyse equity company price",
    ["cryptocurrency", "bitcoin", "coin"] => "crypto cryptocurrency bitcoin btc ethereum eth coin token price",
    // Weather, places.
    ["weather", "forecast", "meteorological"] => "weather forecast rain raining snow sunny cloudy temperature hot \
        cold wind storm umbrella humidity climate tomorrow weekend",
    ["air", "pollen", "aqi"] => "air quality pollution smog pollutants aqi pm2.5 breathe allergy pollen",
    ["geocode", "geocoding", "nominatim"] => "geocode address location coordinates latitude longitude gps map \
        place position street",
    ["haversine", "geodesy", "bearing"] => "distance far how far between kilometres kilometers km miles route \
        travel direction",
    ["geolocation", "isp"] => "geoip ip location where country city geolocate",
    ["country", "countries"] => "country nation capital currency population language languages flag",
    // Security and hashing.
    ["hash", "digest", "sha256", "sha512", "md5", "blake3", "checksum", "crc"] => "hash hashing digest checksum \
        fingerprint integrity sha sha1 sha256 sha512 md5 hex",
    ["hmac", "mac"] => "hmac mac signature sign signing webhook authenticate shared secret key",
    ["password", "passphrase"] => "password passwords passphrase credential credentials login secret",
    ["argon2", "bcrypt"] => "store storing database hash hashing salt secure",
    ["strength", "zxcvbn"] => "strength strong weak secure guessable entropy",
    ["jwt"] => "jwt token tokens auth authentication bearer claims oauth session",
    ["random", "secure"] => "random randomness secure generate",
    // Data formats.
    ["json"] => "json object objects document",
    ["pretty", "prettify", "indent", "minify"] => "pretty print prettify beautify format indent indentation \
        readable tidy whitespace",
    ["jsonpath", "jq"] => "jsonpath jq query select extract filter path field fields values",
    ["schema"] => "schema schemas validate validation contract payload conform",
    ["diff", "patch"] => "diff difference differences compare comparison changes changed delta patch",
    ["csv"] => "csv spreadsheet excel tabular table rows columns comma",
    ["yaml"] => "yaml yml config configuration kubernetes compose",
    ["toml"] => "toml config configuration cargo",
    ["xml", "xpath"] => "xml xpath markup soap",
    ["sql", "sqlite"] => "sql query database db table select",
    ["sort", "dedupe"] => "sort sorted sorting order alphabetize alphabetical lines dedupe duplicate duplicates unique",
    // Text processing.
    ["regex", "regular"] => "regex regexp regular expression pattern patterns match matches grep search find",
    ["case", "camel", "snake", "kebab"] => "case camelcase snake kebab pascal title uppercase lowercase identifier \
        variable naming convention",
    ["slug", "slugify"] => "slug permalink url friendly seo",
    ["html", "entity", "entities"] => "html web page webpage markup tags",
    ["markdown", "commonmark"] => "markdown md readme commonmark gfm",
    ["pdf"] => "pdf document documents acrobat",
    ["docx", "xlsx", "excel", "office"] => "word docx doc excel xlsx office document spreadsheet",
    ["sanitize", "xss"] => "sanitize clean safe untrusted xss",
    // Media.
    ["exif", "camera", "photo"] => "exif metadata photo photos camera lens gps taken picture jpeg",
    ["image", "images"] => "image images picture pictures photo photos png jpeg jpg webp gif",
    ["resize", "thumbnail"] => "resize scale shrink smaller bigger thumbnail dimensions",
    ["color", "colour", "rgb", "hsl"] => "color colour colours colors hex rgb hsl palette",
    ["contrast", "wcag"] => "contrast readable legible accessibility a11y",
    ["qr"] => "qr code qrcode scannable scan",
    ["barcode"] => "barcode ean upc code128 product scan",
    ["ocr", "recognize"] => "ocr recognize text image screenshot scan scanned photo read",
    ["audio", "mp3", "wav"] => "audio sound song music track mp3 wav flac recording length",
    ["svg"] => "svg vector graphic graphics drawing",
    // Network.
    ["url", "uri"] => "url urls link links uri address domain host",
    ["percent", "urlencode"] => "urlencode percent encoding escape query string",
    ["http", "download"] => "http https request fetch download get post put rest api curl web page",
    ["scrape", "css", "hyperlink", "hyperlinks"] => "scrape scraping crawl web page links selector",
    ["dns", "mx", "cname"] => "dns domain nameserver resolve mx mail server records lookup ip",
    ["whois", "rdap", "registrar"] => "whois domain owner registrar registration expiry expire",
    ["tls", "certificate"] => "tls ssl https certificate cert expiry expire expiration",
    ["cidr", "subnet"] => "ip network subnet netmask range cidr",
    ["uptime", "monitoring"] => "uptime down outage online offline monitor ping alive reachable status",
    ["email", "smtp"] => "email mail e-mail inbox address",
    ["useragent", "browser"] => "browser user agent visitor device os",
    ["robots", "crawler"] => "robots crawler crawl spider bot allowed disallow",
    ["feed", "rss", "atom"] => "rss atom feed feeds news blog podcast",
    ["slack", "channel"] => "slack chat channel team message notify notification post",
    ["phone"] => "phone telephone mobile number cell e164",
    // Identifiers, encodings, archives.
    ["uuid", "ulid", "nanoid"] => "uuid guid unique identifier id ids key random",
    ["base64"] => "base64 encode decode encoding binary text",
    ["hexadecimal", "hexdump"] => "hex hexadecimal encode decode",
    ["radix", "binary", "octal"] => "base radix binary octal decimal hexadecimal number",
    ["compress", "decompress", "gzip", "zstd"] => "compress compression decompress shrink smaller gzip gunzip zstd \
        brotli deflate zlib",
    ["zip", "tar", "archive"] => "zip unzip tar archive archives unpack extract files",
    // Units and math.
    ["unit", "units"] => "unit units convert conversion length distance mass weight volume speed area pressure \
        energy metric imperial miles km kilometres kilometers meters metres feet inches pounds lb kg kilograms \
        grams ounces litres liters gallons cups mph",
    ["celsius", "fahrenheit", "kelvin", "temperature"] => "temperature degrees celsius fahrenheit kelvin metric \
        imperial",
    ["kib", "gib"] => "bytes size kb mb gb tb kib mib gib megabytes gigabytes file size human readable",
    ["arithmetic", "calculator"] => "calculate calculator math arithmetic compute percent percentage \
        sum plus minus times multiply divide formula",
    ["statistics", "mean", "median", "percentile"] => "statistics stats average mean median spread variance \
        deviation stddev min max distribution",
    ["regression"] => "regression fit trend line linear least squares slope",
    ["matrix"] => "matrix matrices linear algebra",
    ["prime", "gcd", "factorization"] => "prime primes factor factors divisor divisors number theory",
    ["dice", "shuffle"] => "dice die roll d6 d20 random game",
    ["roman"] => "roman numeral numerals",
    ["ordinal"] => "ordinal position rank",
    // Developer tools.
    ["git"] => "git repo repository commit commits history version control branch log blame",
    ["semver", "semantic"] => "semver version versions release newer older upgrade compare",
    ["spdx", "license"] => "license licence spdx mit apache gpl copyright open source",
    ["mime"] => "mime type content type file type extension magic",
    ["directory", "folder", "disk"] => "file files folder directory disk path",
    ["environment", "env"] => "environment variable variables env setting",
    ["syntax", "programming"] => "code source programming syntax language",
    // Knowledge.
    ["wikipedia", "article"] => "wikipedia encyclopedia wiki biography facts who history",
    ["nutrition", "calories", "food"] => "nutrition calories calorie food diet protein fat carbs healthy",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyzer::{analyze, analyzer};

    #[test]
    fn every_trigger_survives_analysis() {
        // A trigger that the analyzer drops (stop word, single letter) could never fire.
        let mut a = analyzer();
        for d in DOMAINS {
            for t in d.triggers {
                assert_eq!(analyze(&mut a, t).len(), 1, "trigger {t:?} must analyze to one term");
            }
        }
    }
}
