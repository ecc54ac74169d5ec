"""The demo region 湘北市: organisations, ~80 teachers and every role, for ``flask --app webapp seed-demo``.

Everything is deterministic: names come from fixed lists drawn with a fixed seed, so every run builds
the same people with the same logins. Only dates move with the calendar (the current school year,
the delegation running now). Every account has the password :data:`DEMO_PASSWORD`, hashed once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import BackboneLevel, EmploymentType, Membership, Org, OrgType, Role, SchoolStage, User
from webapp.models.base import utcnow
from webapp.services import audit, ledger, processes, stale_standings, standings
from webapp.services.errors import ServiceError
from webapp.services.orgs import create_org
from webapp.services.passwords import hash_password
from webapp.services.rules import rule_set_for
from webapp.services.users import DELEGATION_FIELDS, LOGIN_PATTERN, assign_role, delegate

#: Published in the README: demo data only, never for real accounts.
DEMO_PASSWORD = "Demo@2026"  # noqa: S105 (a documented demo password, not a secret)
#: The city's code; when it exists the demo has been seeded and :func:`seed_demo` does nothing.
DEMO_CITY_CODE = "XB"

#: The accounts worth logging in as, for the README: (login, role in Chinese, organisation).
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("admin", "系统管理员", "湘北市"),
    ("designer", "流程设计员", "湘北市教育科学研究院"),
    ("tanjianhua", "市教育局师训科", "湘北市"),
    ("yiwenbin", "县教育局", "临江县"),
    ("ouyanghui", "专家组成员", "湘北市教育科学研究院"),
    ("pengzhiyong", "研训员", "湘北市教育科学研究院"),
    ("caojing", "县区研培中心工作人员", "北湖区教师发展中心"),
    ("liaoping", "县区研培中心工作人员", "临江县教师研培中心"),
    ("huangjianguo", "校长", "北湖区实验小学"),
    ("liufang", "学校师训专干（外出中，由王磊代理）", "北湖区实验小学"),
    ("wanglei", "教师，代理学校师训专干", "北湖区实验小学"),
    ("chenjing", "年级组长（一年级组）", "北湖区实验小学"),
    ("limin", "教师（班主任）", "北湖区实验小学"),
    ("zhaoxue", "新教师（本学年入职）", "北湖区实验小学"),
    ("tangyun", "学校师训专干", "临江县城关小学"),
    ("sunmei", "教师（原学校师训专干，任期已满）", "临江县城关小学"),
    ("yangfan", "教师", "临江县城关小学"),
]

_SEED = 2026

_SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("黄", "huang"),
    ("赵", "zhao"), ("周", "zhou"), ("吴", "wu"), ("徐", "xu"), ("孙", "sun"), ("胡", "hu"), ("朱", "zhu"),
    ("高", "gao"), ("林", "lin"), ("何", "he"), ("郭", "guo"), ("罗", "luo"), ("梁", "liang"), ("宋", "song"),
    ("郑", "zheng"), ("谢", "xie"), ("唐", "tang"), ("邓", "deng"), ("曹", "cao"), ("彭", "peng"), ("曾", "zeng"),
    ("肖", "xiao"), ("田", "tian"), ("袁", "yuan"), ("蒋", "jiang"), ("谭", "tan"), ("廖", "liao"), ("贺", "he"),
    ("龚", "gong"), ("易", "yi"), ("文", "wen"), ("向", "xiang"), ("邹", "zou"), ("熊", "xiong"), ("汤", "tang"),
]
_GIVEN_FIRST = [
    ("建", "jian"), ("志", "zhi"), ("文", "wen"), ("晓", "xiao"), ("春", "chun"), ("海", "hai"), ("明", "ming"),
    ("丽", "li"), ("思", "si"), ("雨", "yu"), ("欣", "xin"), ("佳", "jia"), ("宇", "yu"), ("晨", "chen"),
    ("诗", "shi"), ("慧", "hui"), ("红", "hong"), ("玉", "yu"), ("雅", "ya"), ("俊", "jun"), ("德", "de"),
    ("秀", "xiu"), ("美", "mei"), ("子", "zi"),
]
_GIVEN_SECOND = [
    ("伟", "wei"), ("芳", "fang"), ("敏", "min"), ("静", "jing"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"),
    ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("霞", "xia"),
    ("平", "ping"), ("刚", "gang"), ("英", "ying"), ("华", "hua"), ("萍", "ping"), ("辉", "hui"), ("燕", "yan"),
    ("琳", "lin"), ("婷", "ting"), ("怡", "yi"), ("涵", "han"), ("博", "bo"), ("浩", "hao"), ("峰", "feng"),
    ("斌", "bin"), ("亮", "liang"), ("颖", "ying"), ("倩", "qian"), ("琴", "qin"), ("鹏", "peng"), ("飞", "fei"),
    ("瑶", "yao"), ("莉", "li"), ("凯", "kai"), ("丹", "dan"), ("梅", "mei"), ("兰", "lan"), ("云", "yun"),
]

_SUBGROUP_KIND = {SchoolStage.SENIOR: "备课组", SchoolStage.JUNIOR: "教研组", SchoolStage.PRIMARY: "年级组",
                  SchoolStage.KINDERGARTEN: "活动组"}
#: Stages whose grade or activity groups share teachers (a maths teacher in two grades).
_SHARED_ACROSS_GRADES = {SchoolStage.PRIMARY, SchoolStage.KINDERGARTEN, SchoolStage.NINE_YEAR}
_CLASS_TEACHER_SHARE = {SchoolStage.KINDERGARTEN: 0.6, SchoolStage.PRIMARY: 0.5, SchoolStage.JUNIOR: 0.4,
                        SchoolStage.SENIOR: 0.3}


@dataclass(frozen=True)
class _Persona:
    """A hand-named person, so the logins in :data:`DEMO_LOGINS` never move."""

    login: str
    name: str
    subject: str | None = None
    hire_year: int | None = None  # None: hired at the start of the current school year
    class_teacher: bool = False
    backbone: BackboneLevel | None = None
    title: str | None = None
    employment: EmploymentType = EmploymentType.ESTABLISHED


@dataclass(frozen=True)
class _Subgroup:
    name: str
    stage: SchoolStage
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class _School:
    code: str
    name: str
    stage: SchoolStage
    parent: str  # code of the county, group or zone it sits in
    teachers: int
    principal: _Persona
    subgroups: tuple[_Subgroup, ...]
    #: Teacher ``i`` joins subgroup ``i % len(subgroups)``; the first one in each subgroup leads it.
    featured: dict[int, _Persona] = field(default_factory=dict)
    #: Which teacher is the school's training officer (学校师训专干).
    officer: int | None = None


def _sg(name: str, stage: SchoolStage, *subjects: str) -> _Subgroup:
    return _Subgroup(name, stage, subjects)


_S, _J, _P, _K = SchoolStage.SENIOR, SchoolStage.JUNIOR, SchoolStage.PRIMARY, SchoolStage.KINDERGARTEN

_SCHOOLS: tuple[_School, ...] = (
    _School("XB-BH-YZ", "湘北市第一中学", _S, "XB-BH", 12, _Persona("xieguoping", "谢国平", "物理", 1990), (
        _sg("高一语文备课组", _S, "语文"), _sg("高一数学备课组", _S, "数学"),
        _sg("高二英语备课组", _S, "英语"), _sg("高二物理备课组", _S, "物理"))),
    _School("XB-BH-SZ", "北湖区实验中学", _J, "XB-BH-JT", 10, _Persona("xuwenjie", "许文杰", "数学", 1994), (
        _sg("语文教研组", _J, "语文"), _sg("数学教研组", _J, "数学"), _sg("英语教研组", _J, "英语"),
        _sg("综合教研组", _J, "道德与法治", "历史", "地理", "生物"))),
    _School("XB-BH-SX", "北湖区实验小学", _P, "XB-BH-JT", 12, _Persona("huangjianguo", "黄建国", "语文", 1991), (
        _sg("一年级组", _P, "语文", "数学", "英语", "科学"), _sg("三年级组", _P, "语文", "数学", "音乐", "体育"),
        _sg("五年级组", _P, "数学", "语文", "美术", "英语")),
        featured={
            0: _Persona("chenjing", "陈静", "语文", 2006, class_teacher=True, backbone=BackboneLevel.CITY),
            3: _Persona("liufang", "刘芳", "数学", 2004, backbone=BackboneLevel.COUNTY),
            4: _Persona("wanglei", "王磊", "数学", 2009),
            6: _Persona("limin", "李敏", "英语", 2017, class_teacher=True),
            9: _Persona("zhaoxue", "赵雪", "科学"),
        }, officer=3),
    _School("XB-BH-JY", "北湖区机关幼儿园", _K, "XB-BH", 6, _Persona("dumeiling", "杜美玲", "学前教育", 1996), (
        _sg("户外游戏活动组", _K, "学前教育"), _sg("绘本阅读活动组", _K, "学前教育"))),
    _School("XB-LJ-YZ", "临江县第一中学", _S, "XB-LJ", 11, _Persona("tianzhigang", "田志刚", "化学", 1989), (
        _sg("高一语文备课组", _S, "语文"), _sg("高一数学备课组", _S, "数学"), _sg("高三英语备课组", _S, "英语"))),
    _School("XB-LJ-CZ", "临江县城关中学", _J, "XB-LJ-CG", 10, _Persona("jiangweidong", "蒋卫东", "语文", 1993), (
        _sg("语文教研组", _J, "语文"), _sg("数学教研组", _J, "数学"), _sg("英语教研组", _J, "英语"))),
    _School("XB-LJ-CX", "临江县城关小学", _P, "XB-LJ-CG", 10, _Persona("zhoudehua", "周德华", "数学", 1992), (
        _sg("一年级组", _P, "语文", "数学", "英语"), _sg("三年级组", _P, "数学", "语文", "科学"),
        _sg("六年级组", _P, "语文", "数学", "体育")),
        featured={
            3: _Persona("tangyun", "唐云", "语文", 2010, backbone=BackboneLevel.SCHOOL),
            4: _Persona("sunmei", "孙梅", "数学", 1997, class_teacher=True),
            6: _Persona("yangfan", "杨帆", "语文", 2020, class_teacher=True, employment=EmploymentType.CONTRACT),
        }, officer=3),
    _School("XB-LJ-BS", "临江县白石镇九年一贯制学校", SchoolStage.NINE_YEAR, "XB-LJ", 9,
            _Persona("zouhaibo", "邹海波", "数学", 1995), (
        _sg("小学低段年级组", _P, "语文", "数学"), _sg("小学高段年级组", _P, "数学", "语文", "英语"),
        _sg("初中教研组", _J, "语文", "数学", "英语", "物理"))),
)


#: (person, organisation they work in, role, organisation the role is held at). County officers work in
#: the training centre but hold the role at the county, which covers its schools; 临江县 has a bureau
#: officer of its own, so its schools reach the county bureau and 北湖区's reach the city's.
_STAFF: tuple[tuple[_Persona, str, Role, str], ...] = (
    (_Persona("admin", "郑凯"), "XB", Role.ADMIN, "XB"),
    (_Persona("designer", "罗晓峰"), "XB-YXY", Role.DESIGNER, "XB"),
    (_Persona("tanjianhua", "谭建华"), "XB", Role.BUREAU_OFFICER, "XB"),
    (_Persona("yiwenbin", "易文斌"), "XB-LJ", Role.BUREAU_OFFICER, "XB-LJ"),
    (_Persona("ouyanghui", "欧阳慧", "语文", title="正高级教师"), "XB-YXY", Role.EXPERT, "XB"),
    (_Persona("hechunmei", "贺春梅", "化学", title="高级教师"), "XB-BH-YZ", Role.EXPERT, "XB"),
    (_Persona("pengzhiyong", "彭志勇", "数学", title="高级教师"), "XB-YXY", Role.RESEARCHER, "XB-YXY"),
    (_Persona("gongli", "龚丽", "语文", title="高级教师"), "XB-YXY", Role.RESEARCHER, "XB-YXY"),
    (_Persona("dengyan", "邓艳", "英语", title="高级教师"), "XB-BH-FZZX", Role.RESEARCHER, "XB-BH-FZZX"),
    (_Persona("xiangjun", "向军", "科学", title="高级教师"), "XB-LJ-YPZX", Role.RESEARCHER, "XB-LJ-YPZX"),
    (_Persona("caojing", "曹静"), "XB-BH-FZZX", Role.COUNTY_OFFICER, "XB-BH"),
    (_Persona("songtao", "宋涛"), "XB-BH-FZZX", Role.COUNTY_OFFICER, "XB-BH"),
    (_Persona("liaoping", "廖平"), "XB-LJ-YPZX", Role.COUNTY_OFFICER, "XB-LJ"),
)


@dataclass
class _Counts:
    orgs: int = 0
    users: int = 0
    teachers: int = 0
    assignments: int = 0


def _tier(years: int, backbone: BackboneLevel | None) -> int:
    """Layered training (分层研修): tier 1 for the first five years, tier 3 for backbone teachers and those of
    more than fifteen years, tier 2 in between."""
    if backbone is not None or years > 15:
        return 3
    return 1 if years <= 5 else 2


def school_year_start(day: date) -> date:
    """1 September of the school year (September–August) that ``day`` falls in."""
    return date(day.year if day.month >= 9 else day.year - 1, 9, 1)


class _Builder:
    def __init__(self, today: date) -> None:
        self.today = today
        self.year_start = school_year_start(today)
        self.rng = random.Random(_SEED)  # noqa: S311 (repeatable demo names, not security)
        self.password_hash = hash_password(DEMO_PASSWORD)
        self.now = utcnow()
        self.orgs: dict[str, Org] = {}
        self.users: dict[str, User] = {}
        self.counts = _Counts()
        self.teacher_logins: list[str] = []
        #: Hand-named people first, so generated names and logins steer clear of them.
        self.reserved = [s[0] for s in _STAFF] + [p for s in _SCHOOLS for p in (s.principal, *s.featured.values())]
        self.names = {p.name for p in self.reserved}
        self.logins = {p.login for p in self.reserved}

    # -- building blocks ---------------------------------------------------------------------------

    def org(self, code: str, name: str, type: OrgType, parent: str | None = None, **values) -> Org:
        org = create_org(code=code, name=name, type=type, parent=self.orgs[parent] if parent else None, **values)
        self.orgs[code] = org
        self.counts.orgs += 1
        return org

    def user(self, login: str, name: str, org: Org, **profile) -> User:
        """A user with the shared demo password hash (``create_user`` would hash it again, slowly)."""
        if not LOGIN_PATTERN.match(login):
            raise ValueError(f"bad demo login {login!r}")
        user = User(login=login, display_name=name, password_hash=self.password_hash,
                    password_changed_at=self.now, org=org, **profile)
        db.session.add(user)
        self.users[login] = user
        self.counts.users += 1
        return user

    def assign(self, user: User, role: Role, org: Org, **period) -> None:
        assign_role(user, role, org, **period)
        self.counts.assignments += 1

    def generated_name(self) -> tuple[str, str]:
        """A new (Chinese name, login) pair; the login is the pinyin, numbered when taken."""
        while True:
            surname, surname_py = self.rng.choice(_SURNAMES)
            given = [self.rng.choice(_GIVEN_SECOND)]
            if self.rng.random() < 0.75:
                given.insert(0, self.rng.choice(_GIVEN_FIRST))
            name = surname + "".join(char for char, _ in given)
            if name not in self.names:
                break
        self.names.add(name)
        base = surname_py + "".join(py for _, py in given)
        login, number = base, 1
        while login in self.logins:
            number += 1
            login = f"{base}{number}"
        self.logins.add(login)
        return name, login

    def teacher_profile(self, stage: SchoolStage, subject: str) -> dict:
        """Hire date, title, class-teacher flag and backbone level, drawn deterministically."""
        hire_year = self.rng.randint(self.year_start.year - 32, self.year_start.year - 1)
        return self.profile_for(stage, subject, hire_year, self.rng.random() < _CLASS_TEACHER_SHARE[stage],
                                self._backbone(self.year_start.year - hire_year))

    def profile_for(self, stage: SchoolStage, subject: str | None, hire_year: int | None, class_teacher: bool,
                    backbone: BackboneLevel | None, employment: EmploymentType = EmploymentType.ESTABLISHED) -> dict:
        """The profile of a teacher; the training tier follows from the years of service and a backbone title
        (no random draw, so the generated names and logins stay where they are)."""
        hire_date = date(hire_year, 9, 1) if hire_year else self.year_start
        years = self.year_start.year - hire_date.year
        if years == 0:
            title = None  # still in the probation year: no professional title yet
        elif years <= 5:
            title = "二级教师"
        elif years <= 14 or self.rng.random() < 0.4:
            title = "一级教师"
        else:
            title = "高级教师"
        return {"stage": stage, "subject": subject, "hire_date": hire_date, "title": title,
                "is_class_teacher": class_teacher, "backbone_level": backbone,
                "training_tier": _tier(years, backbone), "employment_type": employment.value}

    def _backbone(self, years: int) -> BackboneLevel | None:
        draw = self.rng.random()
        if years < 8:
            return None
        for level, share in ((BackboneLevel.PROVINCE, 0.02), (BackboneLevel.CITY, 0.07), (BackboneLevel.COUNTY, 0.15),
                             (BackboneLevel.SCHOOL, 0.25)):
            if draw < share:
                return level
        return None

    # -- the region --------------------------------------------------------------------------------

    def build(self) -> str:
        self.region()
        self.staff()
        for school in _SCHOOLS:
            self.school(school)
        self.history()
        entries = self.ledger()
        return (f"湘北市 ({self.counts.orgs} organisations, {len(_SCHOOLS)} schools), {self.counts.users} users "
                f"({self.counts.teachers} teachers), {self.counts.assignments} role assignments, 1 delegation, "
                f"{entries} ledger entries; every demo login has the password {DEMO_PASSWORD}")

    def region(self) -> None:
        self.org(DEMO_CITY_CODE, "湘北市", OrgType.CITY)
        self.org("XB-YXY", "湘北市教育科学研究院", OrgType.INSTITUTE, DEMO_CITY_CODE, kind="研训院")
        self.org("XB-BH", "北湖区", OrgType.COUNTY, DEMO_CITY_CODE, kind="区")
        self.org("XB-BH-FZZX", "北湖区教师发展中心", OrgType.INSTITUTE, "XB-BH", kind="教师发展中心")
        self.org("XB-BH-JT", "北湖实验教育集团", OrgType.SCHOOL_GROUP, "XB-BH", kind="教育集团")
        self.org("XB-LJ", "临江县", OrgType.COUNTY, DEMO_CITY_CODE, kind="县")
        self.org("XB-LJ-YPZX", "临江县教师研培中心", OrgType.INSTITUTE, "XB-LJ", kind="研培中心")
        self.org("XB-LJ-CG", "临江县城关学区", OrgType.ZONE, "XB-LJ", kind="学区")
        for school in _SCHOOLS:
            self.org(school.code, school.name, OrgType.SCHOOL, school.parent, stage=school.stage)
            for number, subgroup in enumerate(school.subgroups, start=1):
                self.org(f"{school.code}-{number:02d}", subgroup.name, OrgType.SUBGROUP, school.code,
                         stage=subgroup.stage, kind=_SUBGROUP_KIND[subgroup.stage])

    def staff(self) -> None:
        """City, bureau, institute and county-centre people. A role is held at the org it covers."""
        for person, works_in, role, held_at in _STAFF:
            user = self.user(person.login, person.name, self.orgs[works_in], subject=person.subject, title=person.title)
            self.assign(user, role, self.orgs[held_at])

    def school(self, spec: _School) -> None:
        school = self.orgs[spec.code]
        principal = spec.principal
        self.assign(self.user(principal.login, principal.name, school, subject=principal.subject, title="高级教师",
                              hire_date=date(principal.hire_year or self.year_start.year, 9, 1),
                              employment_type=principal.employment.value),
                    Role.PRINCIPAL, school)
        subgroups = [self.orgs[f"{spec.code}-{n:02d}"] for n in range(1, len(spec.subgroups) + 1)]
        officer_index = spec.officer if spec.officer is not None else len(subgroups)
        for index in range(spec.teachers):
            slot, position = index % len(subgroups), index // len(subgroups)
            sg_spec = spec.subgroups[slot]
            subject = sg_spec.subjects[position % len(sg_spec.subjects)]
            name, login = self.generated_name()
            profile = self.teacher_profile(sg_spec.stage, subject)
            if index == spec.teachers - 1:  # every school took on one new teacher this school year
                profile = self.profile_for(sg_spec.stage, subject, None, False, None)
            persona = spec.featured.get(index)
            if persona is not None:
                name, login = persona.name, persona.login
                profile = self.profile_for(sg_spec.stage, persona.subject or subject, persona.hire_year,
                                           persona.class_teacher, persona.backbone, persona.employment)
            teacher = self.user(login, name, school, **profile)
            self.teacher_logins.append(login)
            self.counts.teachers += 1
            self.assign(teacher, Role.TEACHER, school)
            # Not set_primary_subgroup(): it appends the new membership twice to the in-memory list.
            teacher.memberships.append(Membership(org=subgroups[slot], is_primary=True))
            if index % 5 == 2 and spec.stage in _SHARED_ACROSS_GRADES:  # teaches in a second grade group too
                teacher.memberships.append(Membership(org=subgroups[(slot + 1) % len(subgroups)], is_primary=False))
            if position == 0:
                self.assign(teacher, Role.SUBGROUP_LEADER, subgroups[slot])
            if index == officer_index:
                self.assign(teacher, Role.SCHOOL_OFFICER, school, valid_from=self.year_start)

    def ledger(self) -> int:
        """Recognised hours for every teacher, so that the overviews have something to show: about a third ahead of
        the school year's pace, a third on it, a third behind; then every teacher's standing. Nothing when no
        rule set is loaded for the city (``flask rules load rules`` comes first in ``make seed``)."""
        if rule_set_for(self.orgs[DEMO_CITY_CODE], self.today) is None:
            return 0
        rng = random.Random(_SEED + 1)  # noqa: S311 (repeatable demo hours, not security)
        year_days = max((self.today - self.year_start).days, 1)
        earliest = date(2026, 1, 1)  # the demo rule set's first day
        posted = 0
        teachers = [self.users[login] for login in self.teacher_logins]
        for teacher in teachers:
            draw = rng.random()
            plan: list[tuple[str, float]]
            if draw < 0.35:
                plan = [("centralized", rng.choice((40, 48))), ("online", rng.choice((20, 24))),
                        ("school_based", rng.choice((12, 16)))]
            elif draw < 0.7:
                plan = [("centralized", rng.choice((16, 24, 30))), ("school_based", rng.choice((4, 8)))]
            else:
                plan = [("online", rng.choice((4, 6)))] if draw < 0.85 else []
            if teacher.is_class_teacher and rng.random() < 0.5:
                plan.append(("class_teacher", rng.choice((6, 12))))
            dates = [self.year_start + timedelta(days=rng.randrange(year_days)) for _ in plan]
            earlier = self.year_start - timedelta(days=rng.randint(30, 200))
            if earlier >= earliest and rng.random() < 0.6:
                plan.append(("centralized", rng.choice((30, 40, 60))))
                dates.append(earlier)
            for (category, hours), day in zip(plan, dates, strict=True):
                ledger.post_entry(teacher, category=category, hours=hours, earned_on=min(day, self.today),
                                  title="演示：已认定学时")
                posted += 1
        stale_standings.take(db.session)  # all of them, just below: not once more at commit
        standings.refresh(standings.teacher_ids(self.today), self.today)
        return posted

    def history(self) -> None:
        """One finished term of office and one delegation running now, as a real region would have."""
        last_year_end = self.year_start - timedelta(days=1)
        self.assign(self.users["sunmei"], Role.SCHOOL_OFFICER, self.orgs["XB-LJ-CX"],
                    valid_from=date(last_year_end.year - 3, 9, 1), valid_to=last_year_end)
        admin = self.users["admin"]
        delegation = delegate(self.users["liufang"], self.users["wanglei"], role=Role.SCHOOL_OFFICER,
                              valid_from=self.today - timedelta(days=3), valid_to=self.today + timedelta(days=30),
                              reason="参加省级骨干教师培训（外出一个月）", created_by=admin)
        audit.record("demo.seed", actor=admin, obj=self.orgs[DEMO_CITY_CODE],
                     after={"orgs": self.counts.orgs, "users": self.counts.users})
        audit.record("delegation.create", actor=admin, obj=delegation,
                     after=audit.snapshot(delegation, DELEGATION_FIELDS))
        db.session.flush()


def seed_demo(today: date | None = None) -> str:
    """Add the demo region and return a one-line summary, or "" when it is already there. Flushes, never commits."""
    if db.session.scalar(sa.select(Org.id).where(Org.code == DEMO_CITY_CODE)) is not None:
        return ""
    builder = _Builder(today or date.today())
    existing = set(db.session.scalars(sa.select(sa.func.lower(User.login))))
    taken = sorted(existing & builder.logins)
    if taken:
        raise ServiceError(f"Demo logins already in use: {', '.join(taken)}; demo data not added.")
    codes = db.session.scalars(sa.select(Org.code).where(Org.code.startswith(f"{DEMO_CITY_CODE}-"))).all()
    if codes:
        raise ServiceError(f"Organisation codes of the demo region already in use: {', '.join(sorted(codes))}.")
    builder.logins |= existing  # generated logins get a number rather than clash with an existing account
    summary = builder.build()
    for package in processes.all_packages():  # each process adds its records for the demo people
        if package.demo is not None:
            summary += "; " + package.demo(builder.users, builder.today)
    return summary
